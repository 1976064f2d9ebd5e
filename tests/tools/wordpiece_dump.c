/*
 * wordpiece_dump.c - driver for the WordPiece reference test and the
 * speed measurement (not a Check suite).
 *
 *   wordpiece_dump VOCAB FILE...     per input line:
 *       <file>:<line>\t<id>:<cs>:<ce>:<bs>:<be>:<word> ...
 *     (same format as tests/reference/wordpiece_ref.py; lines are split at
 *     '\n', a line that is not valid UTF-8 prints "INVALID")
 *   wordpiece_dump --bench VOCAB FILE [SECONDS]
 *     tokenizes FILE line by line repeatedly for about SECONDS (default 3)
 *     and prints bytes/s and tokens/s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "util.h"
#include "wordpiece.h"

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 20, n = 0;
    char *buf = pl_malloc(cap);
    while (buf) {
        if (n == cap) {
            char *nb = pl_realloc(buf, cap * 2);
            if (!nb) {
                pl_free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0) break;
        n += got;
    }
    fclose(f);
    *len = n;
    return buf;
}

/* Calls fn(line, len, no, ud) for each '\n'-terminated (or final) line. */
static int for_lines(const char *buf, size_t len, int (*fn)(const char *, size_t, int, void *),
                     void *ud) {
    int no = 0;
    for (size_t p = 0; p < len;) {
        const char *nl = memchr(buf + p, '\n', len - p);
        size_t e = nl ? (size_t)(nl - buf) : len;
        int rc = fn(buf + p, e - p, ++no, ud);
        if (rc) return rc;
        p = e + 1;
    }
    return 0;
}

struct dump_ctx {
    const struct pl_wordpiece *tok;
    const char *name;
    FILE *out;
    long long n_tokens;
};

static int dump_line(const char *s, size_t n, int no, void *ud) {
    struct dump_ctx *c = ud;
    int32_t nt, *ids, *words;
    struct pl_token_offset *offs;
    pl_status st = pl_wordpiece_tokenize(c->tok, s, n, &nt, &ids, &words, &offs);
    fprintf(c->out, "%s:%d\t", c->name, no);
    if (st == PL_E_INVALID_ARG) {
        fputs("INVALID\n", c->out);
        return 0;
    }
    if (st != PL_OK) {
        fprintf(stderr, "%s:%d: %s\n", c->name, no, pl_last_error());
        return 1;
    }
    for (int32_t i = 0; i < nt; i++)
        fprintf(c->out, "%s%d:%d:%d:%d:%d:%d", i ? " " : "", (int)ids[i], (int)offs[i].char_start,
                (int)offs[i].char_end, (int)offs[i].byte_start, (int)offs[i].byte_end,
                (int)words[i]);
    fputc('\n', c->out);
    c->n_tokens += nt;
    pl_free(ids);
    pl_free(words);
    pl_free(offs);
    return 0;
}

static int bench_line(const char *s, size_t n, int no, void *ud) {
    (void)no;
    struct dump_ctx *c = ud;
    int32_t nt, *ids, *words;
    struct pl_token_offset *offs;
    if (pl_wordpiece_tokenize(c->tok, s, n, &nt, &ids, &words, &offs) != PL_OK) {
        fprintf(stderr, "%s\n", pl_last_error());
        return 1;
    }
    c->n_tokens += nt;
    pl_free(ids);
    pl_free(words);
    pl_free(offs);
    return 0;
}

int main(int argc, char **argv) {
    bool bench = argc > 1 && strcmp(argv[1], "--bench") == 0;
    int a = bench ? 2 : 1;
    if (argc - a < 2) {
        fprintf(stderr, "usage: %s [--bench] VOCAB FILE...\n", argv[0]);
        return 2;
    }
    struct pl_wordpiece *tok;
    if (pl_wordpiece_create(argv[a], NULL, &tok) != PL_OK) {
        fprintf(stderr, "%s\n", pl_last_error());
        return 1;
    }
    int rc = 0;
    if (bench) {
        double secs = argc - a > 2 ? atof(argv[a + 2]) : 3.0;
        size_t len;
        char *buf = slurp(argv[a + 1], &len);
        if (!buf) {
            fprintf(stderr, "cannot read %s\n", argv[a + 1]);
            pl_wordpiece_destroy(tok);
            return 1;
        }
        struct dump_ctx c = {tok, argv[a + 1], stdout, 0};
        struct timespec c0, c1;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
        int64_t t0 = pl_time_mono_ns(), t;
        int reps = 0;
        do {
            rc = for_lines(buf, len, bench_line, &c);
            reps++;
            t = pl_time_mono_ns();
        } while (!rc && (double)(t - t0) < secs * 1e9);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
        double el = (double)(t - t0) / 1e9;
        double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
        /* Wall-clock rates suffer on a shared machine; CPU-time rates do not. */
        printf("{\"file\":\"%s\",\"passes\":%d,\"wall_s\":%.3f,\"cpu_s\":%.3f,"
               "\"tokens_per_pass\":%lld,\"tokens_per_s_wall\":%.0f,\"tokens_per_s_cpu\":%.0f,"
               "\"mb_per_s_cpu\":%.2f}\n",
               argv[a + 1], reps, el, cpu, c.n_tokens / reps, (double)c.n_tokens / el,
               (double)c.n_tokens / cpu, (double)len * reps / cpu / 1e6);
        pl_free(buf);
    } else {
        for (int i = a + 1; i < argc && !rc; i++) {
            size_t len;
            char *buf = slurp(argv[i], &len);
            if (!buf) {
                fprintf(stderr, "cannot read %s\n", argv[i]);
                rc = 1;
                break;
            }
            const char *slash = strrchr(argv[i], '/');
            struct dump_ctx c = {tok, slash ? slash + 1 : argv[i], stdout, 0};
            rc = for_lines(buf, len, dump_line, &c);
            pl_free(buf);
        }
    }
    pl_wordpiece_destroy(tok);
    return rc;
}
