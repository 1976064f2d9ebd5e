/*
 * test_asr_view.c - pl_asr_model_view (engine/models/asr_model.h), the
 * description the CUDA path builds its device copy from, checked on the CPU:
 * a plain-C whole-sequence forward written only from the view (the same
 * layout, padding and residual order as engine/cuda/asr_net.cu: every conv
 * over the utterance padded with `left` zeros before and `right` after,
 * ceil((T + tail_frames) / stride) outputs) must equal pl_asr_model_forward on the shipped
 * model (max abs diff <= 1e-4) for T = 1, 2, 37 and 160. So the view's
 * geometry and weight layouts are what the CUDA path assumes, even on a
 * machine without a GPU. Also: the view's fields against the model config.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "models/asr_model.h"

/* One separable conv from the view: y [ceil(T/s)][cout] = pw(dw(x)) + pb. */
static double *sep(const struct pl_asr_conv_view *c, const double *x, int T, int *T_out) {
    const int To = (T + c->stride - 1) / c->stride;
    double *d = calloc((size_t)To * c->cin + 1, sizeof *d);
    double *y = calloc((size_t)To * c->cout + 1, sizeof *y);
    ck_assert(d && y);
    for (int t = 0; t < To; t++)
        for (int j = 0; j < c->kernel; j++) {
            int ti = t * c->stride + j * c->dilation - c->left;
            if (ti < 0 || ti >= T) continue; /* the zero padding */
            for (int ch = 0; ch < c->cin; ch++)
                d[(size_t)t * c->cin + ch] +=
                    (double)c->dw[(size_t)j * c->cin + ch] * x[(size_t)ti * c->cin + ch];
        }
    for (int t = 0; t < To; t++)
        for (int o = 0; o < c->cout; o++) {
            double acc = c->pb[o];
            for (int i = 0; i < c->cin; i++)
                acc += (double)c->pw[(size_t)o * c->cin + i] * d[(size_t)t * c->cin + i];
            y[(size_t)t * c->cout + o] = acc;
        }
    free(d);
    *T_out = To;
    return y;
}

static void relu(double *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : 0;
}

/* The whole network from the view: log-probs [*T_out][V] (double). */
static double *view_forward(const struct pl_asr_model_view *v, const float *feats, int T,
                            int *T_out) {
    /* the utterance, then tail_frames zero frames */
    const int Te = T > 0 ? T + v->tail_frames : 0;
    double *x = calloc((size_t)Te * v->n_mels + 1, sizeof *x);
    ck_assert(x);
    for (size_t i = 0; i < (size_t)T * v->n_mels; i++) x[i] = feats[i];
    int Tc = Te, Tn = 0;
    double *y = sep(&v->convs[0], x, Tc, &Tn);
    free(x);
    x = y;
    Tc = Tn;
    relu(x, (size_t)Tc * v->convs[0].cout);
    for (int bi = 0; bi < v->n_blocks; bi++) {
        const struct pl_asr_block_view *b = &v->blocks[bi];
        double *res = calloc((size_t)Tc * b->c + 1, sizeof *res);
        ck_assert(res);
        for (int t = 0; t < Tc; t++)
            for (int o = 0; o < b->c; o++) {
                double acc = b->rb[o];
                for (int i = 0; i < b->cin; i++)
                    acc += (double)b->rw[(size_t)o * b->cin + i] * x[(size_t)t * b->cin + i];
                res[(size_t)t * b->c + o] = acc;
            }
        for (int j = 0; j < b->n; j++) {
            const struct pl_asr_conv_view *c = &v->convs[b->first + j];
            y = sep(c, x, Tc, &Tn);
            ck_assert_int_eq(Tn, Tc); /* blocks do not stride */
            free(x);
            x = y;
            if (j == b->n - 1)
                for (size_t e = 0; e < (size_t)Tc * c->cout; e++) x[e] += res[e];
            relu(x, (size_t)Tc * c->cout);
        }
        free(res);
    }
    const struct pl_asr_conv_view *epi = &v->convs[v->n_convs - 1];
    y = sep(epi, x, Tc, &Tn);
    free(x);
    x = y;
    Tc = Tn;
    relu(x, (size_t)Tc * epi->cout);
    const int V = v->vocab_size;
    double *lp = calloc((size_t)Tc * V + 1, sizeof *lp);
    ck_assert(lp);
    for (int t = 0; t < Tc; t++) {
        double *row = lp + (size_t)t * V, mx = -INFINITY, s = 0;
        for (int o = 0; o < V; o++) {
            double acc = v->dec_b[o];
            for (int i = 0; i < v->dec_c; i++)
                acc += (double)v->dec_w[(size_t)o * v->dec_c + i] * x[(size_t)t * v->dec_c + i];
            row[o] = acc;
            mx = acc > mx ? acc : mx;
        }
        for (int o = 0; o < V; o++) s += exp(row[o] - mx);
        for (int o = 0; o < V; o++) row[o] -= mx + log(s);
    }
    free(x);
    *T_out = Tc;
    return lp;
}

static struct pl_asr_model *load_shipped(void) {
    const char *src = getenv("PARLEY_SOURCE_DIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/models/asr-en-quartznet", src ? src : ".");
    struct pl_asr_model *m = NULL;
    ck_assert_msg(pl_asr_model_load(dir, NULL, &m) == PL_OK, "%s", pl_last_error());
    return m;
}

START_TEST(view_fields) {
    struct pl_asr_model *m = load_shipped();
    const struct pl_asr_model_config *cfg = pl_asr_model_get_config(m);
    struct pl_asr_model_view *v = NULL;
    ck_assert_int_eq(pl_asr_model_view_create(NULL, &v), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_asr_model_view_create(m, NULL), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_asr_model_view_create(m, &v), PL_OK);
    ck_assert_int_eq(v->n_mels, cfg->n_mels);
    ck_assert_int_eq(v->vocab_size, cfg->vocab_size);
    ck_assert_int_eq(v->n_convs, cfg->n_convs);
    ck_assert_int_eq(v->n_blocks, cfg->n_blocks);
    ck_assert_int_eq(v->max_channels, cfg->max_channels);
    int cin = v->n_mels, stride = 1, next = 1;
    long right = 0;
    for (int i = 0; i < v->n_convs; i++) {
        const struct pl_asr_conv_view *c = &v->convs[i];
        ck_assert_int_eq(c->cin, cin);
        ck_assert_int_eq(c->left + c->right, c->dilation * (c->kernel - 1));
        ck_assert(c->dw && c->pw && c->pb);
        right += (long)c->right * stride;
        stride *= c->stride;
        cin = c->cout;
    }
    ck_assert_int_eq(v->dec_c, cin);
    ck_assert_int_eq(stride, cfg->stride);
    ck_assert_int_eq(right, cfg->right_context);
    for (int i = 0; i < v->n_blocks; i++) {
        ck_assert_int_eq(v->blocks[i].first, next);
        ck_assert_int_eq(v->blocks[i].cin, v->convs[next].cin);
        next += v->blocks[i].n;
        ck_assert_int_eq(v->blocks[i].c, v->convs[next - 1].cout);
    }
    ck_assert_int_eq(next, v->n_convs - 1);
    pl_asr_model_view_destroy(v);
    pl_asr_model_view_destroy(NULL);
    pl_asr_model_destroy(m);
}
END_TEST

START_TEST(view_forward_matches) {
    struct pl_asr_model *m = load_shipped();
    const struct pl_asr_model_config *cfg = pl_asr_model_get_config(m);
    struct pl_asr_model_view *v = NULL;
    struct pl_asr_stream *s = NULL;
    ck_assert_int_eq(pl_asr_model_view_create(m, &v), PL_OK);
    ck_assert_int_eq(pl_asr_stream_create(m, 0, &s), PL_OK);
    static const int lens[] = {1, 2, 37, 160};
    uint64_t r = 12345;
    for (size_t li = 0; li < PL_ARRAY_LEN(lens); li++) {
        const int T = lens[li];
        float *f = pl_malloc((size_t)T * cfg->n_mels * sizeof *f);
        const int no = pl_asr_model_n_out(m, T);
        float *out = pl_malloc(((size_t)no + 1) * cfg->vocab_size * sizeof *out);
        ck_assert(f && out);
        for (size_t i = 0; i < (size_t)T * cfg->n_mels; i++) {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            f[i] = (float)((r >> 11) * (4.0 / 9007199254740992.0) - 2.0);
        }
        int n = 0, To = 0;
        ck_assert_int_eq(pl_asr_model_forward(s, f, T, out, &n), PL_OK);
        double *ref = view_forward(v, f, T, &To);
        ck_assert_int_eq(To, no);
        ck_assert_int_eq(n, no);
        double worst = 0;
        for (size_t e = 0; e < (size_t)no * cfg->vocab_size; e++) {
            double d = fabs(ref[e] - out[e]);
            worst = d > worst || d != d ? d : worst;
        }
        ck_assert_msg(worst <= 1e-4, "T=%d: view forward vs CPU forward max diff %g", T, worst);
        free(ref);
        pl_free(f);
        pl_free(out);
    }
    pl_asr_stream_destroy(s);
    pl_asr_model_view_destroy(v);
    pl_asr_model_destroy(m);
}
END_TEST

Suite *pl_asr_view_suite(void) {
    Suite *s = suite_create("asr_view");
    TCase *tc = tcase_create("view");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, view_fields);
    tcase_add_test(tc, view_forward_matches);
    suite_add_tcase(s, tc);
    return s;
}
