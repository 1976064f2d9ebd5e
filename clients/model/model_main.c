/*
 * parley-model - `parley model <command>`:
 *
 *   parley model forward MODEL_DIR --input-ids IDS.json --output OUT.f32
 *                        [--precision f32|int8|f16|bf16] [--device cpu|cpu-ref|cuda[:N]]
 *                        [--threads N] [--head-output HEAD.f32]
 *       IDS.json: a JSON array of arrays of token ids; shorter rows are padded
 *       with the model's pad id and masked. Writes the last hidden state as raw
 *       little-endian float32 [batch, max_len, hidden] (and, with
 *       --head-output, the head's logits). Exit 0 ok, 1 failure, 2 usage.
 *   parley model tokenize MODEL_DIR TEXT   (see engine/tokenizer/wordpiece_cli.h)
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "backend.h"
#include "log.h"
#include "models/bert.h"
#include "wordpiece_cli.h"

static const char usage[] =
    "usage: parley model forward MODEL_DIR --input-ids IDS.json --output OUT.f32\n"
    "                            [--precision f32|int8|f16|bf16] [--device cpu|cpu-ref|cuda[:N]]\n"
    "                            [--threads N] [--head-output HEAD.f32]\n"
    "       parley model tokenize MODEL_DIR TEXT\n";

static int write_floats(const char *path, const float *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "parley model: cannot write %s\n", path);
        return 1;
    }
    size_t w = fwrite(p, sizeof(float), n, f); /* x86-64 is little-endian */
    int bad = fclose(f) != 0 || w != n;
    if (bad) fprintf(stderr, "parley model: short write to %s\n", path);
    return bad;
}

static int cmd_forward(int argc, char **argv) {
    const char *dir = NULL, *ids_path = NULL, *out_path = NULL, *prec = NULL, *device = "cpu",
               *head_path = NULL;
    int threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 < argc && !strcmp(a, "--input-ids")) ids_path = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--output")) out_path = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--precision")) prec = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--device")) device = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--head-output")) head_path = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--threads")) threads = (int)strtol(argv[++i], NULL, 10);
        else if (a[0] != '-' && !dir) dir = a;
        else {
            fprintf(stderr, "parley model forward: unexpected argument '%s'\n%s", a, usage);
            return 2;
        }
    }
    if (!dir || !ids_path || !out_path) {
        fputs(usage, stderr);
        return 2;
    }
    int rc = 1;
    json_t *root = NULL;
    struct pl_backend *be = NULL;
    struct pl_bert *m = NULL;
    struct pl_bert_state *st = NULL;
    int32_t *ids = NULL, *mask = NULL;
    float *hidden = NULL, *head = NULL;
    json_error_t jerr;
    root = json_load_file(ids_path, 0, &jerr);
    if (!root || !json_is_array(root) || json_array_size(root) == 0) {
        fprintf(stderr, "parley model: %s: want a non-empty JSON array of arrays of ids (%s)\n",
                ids_path, root ? "not an array" : jerr.text);
        goto done;
    }
    size_t batch = json_array_size(root), seq = 0, bi;
    json_t *row;
    json_array_foreach(root, bi, row) {
        if (!json_is_array(row) || json_array_size(row) == 0) {
            fprintf(stderr, "parley model: %s: row %zu is not a non-empty array\n", ids_path, bi);
            goto done;
        }
        if (json_array_size(row) > seq) seq = json_array_size(row);
    }
    pl_status s = pl_backend_create(device, &be);
    if (s == PL_OK && threads > 0 && strncmp(device, "cpu", 3) == 0) s = pl_backend_cpu_set_threads(be, threads);
    if (s != PL_OK) {
        fprintf(stderr, "parley model: device %s: %s\n", device, pl_last_error());
        goto done;
    }
    struct pl_bert_options opt = {.precision = prec, .max_batch = (int)batch, .max_seq = (int)seq};
    if (batch > 4096 || seq > 100000) {
        fprintf(stderr, "parley model: %zu x %zu tokens is too large\n", batch, seq);
        goto done;
    }
    if (pl_bert_load(dir, be, &opt, &m) != PL_OK || pl_bert_state_create(m, &st) != PL_OK) {
        fprintf(stderr, "parley model: %s: %s\n", dir, pl_last_error());
        goto done;
    }
    int hsz = pl_bert_get_config(m)->hidden, pad = pl_bert_get_config(m)->pad_token_id;
    ids = pl_calloc(batch * seq, sizeof *ids);
    mask = pl_calloc(batch * seq, sizeof *mask);
    hidden = pl_malloc(batch * seq * (size_t)hsz * sizeof(float));
    int64_t hn = pl_bert_head_size(m, (int)batch, (int)seq);
    if (head_path && hn) head = pl_malloc((size_t)hn * sizeof(float));
    if (!ids || !mask || !hidden || (head_path && hn && !head)) {
        fprintf(stderr, "parley model: out of memory\n");
        goto done;
    }
    json_array_foreach(root, bi, row) {
        for (size_t j = 0; j < seq; j++) {
            json_t *v = json_array_get(row, j);
            if (j < json_array_size(row) && (!json_is_integer(v) || json_integer_value(v) < 0 ||
                                             json_integer_value(v) > INT32_MAX)) {
                fprintf(stderr, "parley model: %s: row %zu item %zu is not a token id\n", ids_path, bi, j);
                goto done;
            }
            ids[bi * seq + j] = j < json_array_size(row) ? (int32_t)json_integer_value(v) : pad;
            mask[bi * seq + j] = j < json_array_size(row);
        }
    }
    if (pl_bert_forward(st, (int)batch, (int)seq, ids, NULL, mask, hidden, head) != PL_OK) {
        fprintf(stderr, "parley model: forward: %s\n", pl_last_error());
        goto done;
    }
    rc = write_floats(out_path, hidden, batch * seq * (size_t)hsz);
    if (!rc && head_path) {
        if (!hn) {
            fprintf(stderr, "parley model: %s has no head\n", dir);
            rc = 1;
        } else {
            rc = write_floats(head_path, head, (size_t)hn);
        }
    }
done:
    pl_free(ids);
    pl_free(mask);
    pl_free(hidden);
    pl_free(head);
    pl_bert_state_destroy(st);
    pl_bert_destroy(m);
    pl_backend_destroy(be);
    json_decref(root);
    return rc;
}

int main(int argc, char **argv) {
    pl_log_set_service("parley-model");
    pl_log_set_level(PL_LOG_WARN);
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "forward")) return cmd_forward(argc - 1, argv + 1);
    if (!strcmp(argv[1], "tokenize")) return pl_cli_model_tokenize(argc - 1, argv + 1);
    fprintf(stderr, "parley model: unknown command '%s'\n%s", argv[1], usage);
    return 2;
}
