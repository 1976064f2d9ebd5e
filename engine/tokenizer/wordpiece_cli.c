/*
 * wordpiece_cli.c - `parley model tokenize` (see wordpiece_cli.h).
 *
 * This is a command's implementation, so unlike the rest of the library it
 * writes to stdout (the result) and stderr (errors, usage).
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc.h"
#include "strbuf.h"
#include "wordpiece.h"
#include "wordpiece_cli.h"

static const char usage[] =
    "usage: parley model tokenize [--vocab FILE_OR_DIR] [--cased|--uncased] [--pair TEXT2]\n"
    "                             [--max-len N] [--no-special] [MODEL_DIR] TEXT\n"
    "Tokenize TEXT (\"-\" = stdin) with the model's WordPiece vocabulary and print tokens,\n"
    "ids and character offsets as JSON.\n";

static bool is_file(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static bool is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static char *join(const char *dir, const char *name) {
    struct pl_strbuf sb;
    pl_strbuf_init(&sb);
    if (name[0] == '/') {
        pl_strbuf_append(&sb, name);
    } else {
        pl_strbuf_append(&sb, dir);
        pl_strbuf_append(&sb, "/");
        pl_strbuf_append(&sb, name);
    }
    return pl_strbuf_detach(&sb);
}

/* A vocabulary file from --vocab: the file itself, DIR/vocab.txt, or the
 * one *vocab*.txt in DIR. NULL (and *err set) if none. */
static char *vocab_from_flag(const char *p, const char **err) {
    if (is_file(p)) return pl_strdup(p);
    if (!is_dir(p)) {
        *err = "--vocab: no such file or directory";
        return NULL;
    }
    char *v = join(p, "vocab.txt");
    if (v && is_file(v)) return v;
    pl_free(v);
    v = NULL;
    DIR *d = opendir(p);
    if (!d) {
        *err = "--vocab: cannot read directory";
        return NULL;
    }
    int found = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n > 4 && strcmp(de->d_name + n - 4, ".txt") == 0 && strstr(de->d_name, "vocab")) {
            found++;
            pl_free(v);
            v = join(p, de->d_name);
        }
    }
    closedir(d);
    if (found != 1) {
        pl_free(v);
        *err = found ? "--vocab: several *vocab*.txt files in the directory"
                     : "--vocab: no vocab.txt in the directory";
        return NULL;
    }
    return v;
}

/* Read MODEL_DIR/config.json if present: vocabulary name and do_lower_case.
 * Returns 0, or 1 with a message on stderr for an unreadable/invalid file. */
static int read_model_config(const char *dir, char **vocab, int *lower) {
    char *path = join(dir, "config.json");
    int rc = 0;
    json_t *root = NULL;
    if (!path) {
        fprintf(stderr, "parley model tokenize: out of memory\n");
        return 1;
    }
    if (!is_file(path)) goto fail;
    json_error_t jerr;
    root = json_load_file(path, 0, &jerr);
    if (!root || !json_is_object(root)) {
        fprintf(stderr, "parley model tokenize: %s:%d: invalid JSON: %s\n", path, jerr.line,
                root ? "not an object" : jerr.text);
        rc = 1;
        goto fail;
    }
    json_t *objs[2] = {json_object_get(root, "tokenizer"), root};
    for (int k = 0; k < 2; k++) {
        json_t *o = objs[k];
        if (!json_is_object(o)) continue;
        json_t *v = json_object_get(o, "vocab_file");
        if (!json_is_string(v)) v = json_object_get(o, "vocab");
        if (!*vocab && json_is_string(v)) *vocab = join(dir, json_string_value(v));
        json_t *l = json_object_get(o, "do_lower_case");
        if (*lower < 0 && json_is_boolean(l)) *lower = json_is_true(l);
    }

fail: /* also the success path */
    json_decref(root);
    pl_free(path);
    return rc;
}

static char *read_stdin(size_t *len) {
    struct pl_strbuf sb;
    pl_strbuf_init(&sb);
    char buf[65536];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, stdin)) > 0) pl_strbuf_append_n(&sb, buf, got);
    *len = sb.len;
    return pl_strbuf_detach(&sb);
}

static void json_pairs(struct pl_strbuf *sb, const char *key, const struct pl_encoding *e,
                       bool bytes) {
    pl_strbuf_appendf(sb, ",\"%s\":[", key);
    for (int32_t i = 0; i < e->n; i++) {
        const struct pl_token_offset *o = &e->offsets[i];
        pl_strbuf_appendf(sb, "%s[%d,%d]", i ? "," : "",
                          (int)(bytes ? o->byte_start : o->char_start),
                          (int)(bytes ? o->byte_end : o->char_end));
    }
    pl_strbuf_append(sb, "]");
}

int pl_cli_model_tokenize(int argc, char **argv) {
    const char *vocab_flag = NULL, *pair = NULL, *pos[2] = {NULL, NULL};
    int n_pos = 0, lower = -1, rc = 1;
    struct pl_encode_opts eo = {0};
    char *vocab = NULL, *stdin_text = NULL, *json = NULL;
    struct pl_wordpiece *tok = NULL;
    struct pl_encoding *enc = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(a, "--vocab") == 0 && i + 1 < argc) {
            vocab_flag = argv[++i];
        } else if (strcmp(a, "--pair") == 0 && i + 1 < argc) {
            pair = argv[++i];
        } else if (strcmp(a, "--max-len") == 0 && i + 1 < argc) {
            char *end;
            errno = 0;
            long v = strtol(argv[++i], &end, 10);
            if (errno || *end || v < 1 || v > INT32_MAX) {
                fprintf(stderr, "parley model tokenize: --max-len: bad number '%s'\n%s", argv[i],
                        usage);
                return 2;
            }
            eo.max_len = (int32_t)v;
        } else if (strcmp(a, "--cased") == 0) {
            lower = 0;
        } else if (strcmp(a, "--uncased") == 0) {
            lower = 1;
        } else if (strcmp(a, "--no-special") == 0) {
            eo.no_special_tokens = true;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "parley model tokenize: unknown option or missing value: %s\n%s", a,
                    usage);
            return 2;
        } else if (n_pos < 2) {
            pos[n_pos++] = a;
        } else {
            fprintf(stderr, "parley model tokenize: too many arguments\n%s", usage);
            return 2;
        }
    }
    if (n_pos == 0 || (n_pos == 1 && !vocab_flag)) {
        fprintf(stderr, "parley model tokenize: need MODEL_DIR and TEXT (or --vocab and TEXT)\n%s",
                usage);
        return 2;
    }
    const char *model_dir = n_pos == 2 ? pos[0] : NULL;
    const char *text = pos[n_pos - 1];

    int cfg_lower = -1;
    if (model_dir) {
        if (!is_dir(model_dir)) {
            fprintf(stderr, "parley model tokenize: %s: not a directory\n", model_dir);
            goto fail;
        }
        if (read_model_config(model_dir, &vocab, &cfg_lower)) goto fail;
        if (!vocab) {
            vocab = join(model_dir, "vocab.txt");
            if (vocab && !is_file(vocab)) {
                pl_free(vocab);
                vocab = NULL;
            }
        } else if (!is_file(vocab)) {
            fprintf(stderr,
                    "parley model tokenize: %s/config.json names %s, which does not exist\n",
                    model_dir, vocab);
            goto fail;
        }
    }
    if (!vocab && vocab_flag) {
        const char *err = NULL;
        vocab = vocab_from_flag(vocab_flag, &err);
        if (!vocab) {
            fprintf(stderr, "parley model tokenize: %s: %s\n", vocab_flag, err ? err : "failed");
            goto fail;
        }
    }
    if (!vocab) {
        fprintf(stderr, "parley model tokenize: %s has no vocab.txt (give --vocab FILE_OR_DIR)\n",
                model_dir);
        goto fail;
    }

    struct pl_wordpiece_opts wo;
    pl_wordpiece_opts_default(&wo);
    if (cfg_lower >= 0) wo.do_lower_case = cfg_lower;
    if (lower >= 0) wo.do_lower_case = lower;
    if (pl_wordpiece_create(vocab, &wo, &tok) != PL_OK) {
        fprintf(stderr, "parley model tokenize: %s\n", pl_last_error());
        goto fail;
    }

    size_t text_len = strlen(text);
    if (strcmp(text, "-") == 0) {
        stdin_text = read_stdin(&text_len);
        if (!stdin_text) {
            fprintf(stderr, "parley model tokenize: out of memory reading stdin\n");
            goto fail;
        }
        text = stdin_text;
    }
    pl_status st =
        pair ? pl_wordpiece_encode_pair(tok, text, text_len, pair, strlen(pair), &eo, &enc)
             : pl_wordpiece_encode(tok, text, text_len, &eo, &enc);
    if (st != PL_OK) {
        fprintf(stderr, "parley model tokenize: %s\n", pl_last_error());
        goto fail;
    }

    struct pl_strbuf sb;
    pl_strbuf_init(&sb);
    pl_strbuf_append(&sb, "{\"vocab\":");
    pl_strbuf_append_json(&sb, vocab);
    pl_strbuf_appendf(&sb, ",\"do_lower_case\":%s,\"n_tokens\":%d,\"tokens\":[",
                      wo.do_lower_case ? "true" : "false", (int)enc->n);
    for (int32_t i = 0; i < enc->n; i++) {
        if (i) pl_strbuf_append(&sb, ",");
        pl_strbuf_append_json(&sb, pl_wordpiece_piece(tok, enc->ids[i]));
    }
    pl_strbuf_append(&sb, "],\"ids\":[");
    for (int32_t i = 0; i < enc->n; i++)
        pl_strbuf_appendf(&sb, "%s%d", i ? "," : "", (int)enc->ids[i]);
    pl_strbuf_append(&sb, "],\"type_ids\":[");
    for (int32_t i = 0; i < enc->n; i++)
        pl_strbuf_appendf(&sb, "%s%d", i ? "," : "", (int)enc->type_ids[i]);
    pl_strbuf_append(&sb, "],\"word_ids\":[");
    for (int32_t i = 0; i < enc->n; i++) {
        if (i) pl_strbuf_append(&sb, ",");
        if (enc->word_ids[i] < 0)
            pl_strbuf_append(&sb, "null");
        else
            pl_strbuf_appendf(&sb, "%d", (int)enc->word_ids[i]);
    }
    pl_strbuf_append(&sb, "]");
    json_pairs(&sb, "char_offsets", enc, false);
    json_pairs(&sb, "byte_offsets", enc, true);
    if (enc->n_truncated) pl_strbuf_appendf(&sb, ",\"n_truncated\":%d", (int)enc->n_truncated);
    pl_strbuf_append(&sb, "}\n");
    json = pl_strbuf_detach(&sb);
    if (!json) {
        fprintf(stderr, "parley model tokenize: out of memory\n");
        goto fail;
    }
    fputs(json, stdout);
    fflush(stdout);
    rc = 0;

fail: /* also the success path */
    pl_free(json);
    pl_encoding_destroy(enc);
    pl_wordpiece_destroy(tok);
    pl_free(stdin_text);
    pl_free(vocab);
    return rc;
}
