/*
 * parley-nlu-bench - where one AnalyzeIntent request's time goes inside parley-nlu, measured
 * as CPU time of the calling thread (steady on a shared machine, unlike wall time):
 *
 *   parley-nlu-bench [--model DIR] [--text STR] [--batches 1,8,16,32,64] [--precision f32,int8]
 *                    [--iters N]
 *
 * For each precision: the tokenizer (text -> windows), the encoder alone (pl_bert_forward on
 * the text's window repeated batch times: CPU ms per forward and per window), and the whole
 * model path of one text (pl_nlu_model_run: tokenizer, batcher hand-off, encoder at batch 1,
 * heads, softmax, window merge; wall time, as it crosses threads). One engine thread (the
 * parley-nlu default). Prints a table; exits 1 when the model does not load.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "log.h"
#include "models/bert.h"
#include "nlu.h"
#include "util.h"

static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int parse_list(const char *s, int *out, int max) {
    int n = 0;
    while (*s && n < max) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 1024) return -1;
        out[n++] = (int)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return n;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    const char *model = "models/nlu-intent-slot-snips";
    const char *text = "book a table for two at an italian restaurant in boston tomorrow";
    const char *batches_s = "1,8,16,32,64", *prec_s = "f32,int8";
    int iters = 200;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--model")) model = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--text")) text = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--batches")) batches_s = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--precision")) prec_s = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--iters")) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 1000000) {
                fprintf(stderr, "parley-nlu-bench: bad --iters '%s'\n", argv[i]);
                return 2;
            }
            iters = (int)v;
        }
        else {
            fprintf(stderr, "usage: parley-nlu-bench [--model DIR] [--text STR] [--batches 1,8,32] "
                            "[--precision f32,int8] [--iters N]\n");
            return 2;
        }
    }
    int batches[16], nb = parse_list(batches_s, batches, 16), maxb = 1;
    if (nb <= 0) {
        fprintf(stderr, "parley-nlu-bench: bad --batches '%s'\n", batches_s);
        return 2;
    }
    for (int i = 0; i < nb; i++) maxb = batches[i] > maxb ? batches[i] : maxb;
    pl_log_set_level(PL_LOG_WARN);
    size_t len = strlen(text);
    printf("parley-nlu-bench: %s, text of %zu bytes, %d iterations, 1 engine thread, CPU time "
           "of this thread\n", model, len, iters);
    char precs[64];
    snprintf(precs, sizeof precs, "%s", prec_s);
    for (char *p = precs, *next; p && *p; p = next) {
        next = strchr(p, ',');
        if (next) *next++ = '\0';
        struct pl_nlu_model_opts o = PL_NLU_MODEL_OPTS_INIT;
        o.threads = 1;
        o.precision = p;
        o.max_batch_size = maxb;
        o.max_queue_delay_us = 0;
        struct pl_nlu_model *m = NULL;
        if (pl_nlu_model_load(model, "bench", &o, &m) != PL_OK) {
            fprintf(stderr, "parley-nlu-bench: %s\n", pl_last_error());
            return 1;
        }
        /* tokenizer */
        struct pl_window_opts wo = {m->max_length, m->stride, 0};
        struct pl_windows *w = NULL;
        double t0 = cpu_ms();
        for (int i = 0; i < iters; i++) {
            pl_windows_destroy(w);
            w = NULL;
            if (pl_wordpiece_windows(m->tok, NULL, 0, text, len, &wo, &w) != PL_OK) {
                fprintf(stderr, "parley-nlu-bench: %s\n", pl_last_error());
                return 1;
            }
        }
        double tok_ms = (cpu_ms() - t0) / iters;
        int seq = w->windows[0].n;
        printf("%-5s tokenizer: %.4f ms per text (%d windows, %d tokens with [CLS]/[SEP])\n", p,
               tok_ms, w->n, seq);
        /* encoder alone at each batch size */
        int32_t *ids = pl_malloc(sizeof(int32_t) * (size_t)maxb * seq);
        int32_t *mask = pl_malloc(sizeof(int32_t) * (size_t)maxb * seq);
        float *hid = pl_malloc(sizeof(float) * (size_t)maxb * seq * m->hidden);
        if (!ids || !mask || !hid) {
            fprintf(stderr, "parley-nlu-bench: out of memory\n");
            return 1;
        }
        for (int b = 0; b < maxb; b++)
            for (int t = 0; t < seq; t++) {
                ids[b * seq + t] = w->windows[0].ids[t];
                mask[b * seq + t] = 1;
            }
        for (int bi = 0; bi < nb; bi++) {
            int b = batches[bi], n = iters / b > 5 ? iters / b : 5;
            double *v = pl_malloc(sizeof(double) * (size_t)n);
            if (!v || pl_bert_forward(m->inst[0].state, b, seq, ids, NULL, mask, hid, NULL) != PL_OK) {
                fprintf(stderr, "parley-nlu-bench: %s\n", v ? pl_last_error() : "out of memory");
                return 1;
            } /* the warm-up */
            for (int i = 0; i < n; i++) {
                double c0 = cpu_ms();
                pl_bert_forward(m->inst[0].state, b, seq, ids, NULL, mask, hid, NULL);
                v[i] = cpu_ms() - c0;
            }
            qsort(v, (size_t)n, sizeof *v, cmp_d);
            printf("%-5s encoder batch %3d x %d: %8.3f ms per forward (p50 of %d), %.3f ms per "
                   "window, %.0f windows/s per core\n", p, b, seq, v[n / 2], n, v[n / 2] / b,
                   1e3 * b / v[n / 2]);
            pl_free(v);
        }
        /* the whole model path of one text (wall: crosses into the batcher thread) */
        struct pl_nlu_result *r = NULL;
        double *v = pl_malloc(sizeof(double) * (size_t)iters);
        if (!v) {
            fprintf(stderr, "parley-nlu-bench: out of memory\n");
            return 1;
        }
        for (int i = 0; i < iters; i++) {
            int64_t w0 = pl_time_mono_us();
            if (pl_nlu_model_run(m, &text, &len, 1, NULL, 0, &r) != PL_OK) {
                fprintf(stderr, "parley-nlu-bench: %s\n", pl_last_error());
                return 1;
            }
            v[i] = (pl_time_mono_us() - w0) / 1e3;
            pl_nlu_results_destroy(r, 1);
        }
        qsort(v, (size_t)iters, sizeof *v, cmp_d);
        printf("%-5s pl_nlu_model_run of one text: %.3f ms p50 wall (tokenizer + batcher + encoder "
               "batch 1 + heads + merge)\n", p, v[iters / 2]);
        pl_free(v);
        pl_free(ids);
        pl_free(mask);
        pl_free(hid);
        pl_windows_destroy(w);
        pl_nlu_model_destroy(m);
    }
    return 0;
}
