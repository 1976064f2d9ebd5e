/*
 * asr_features.c - log-mel front end (see asr_features.h for the definition).
 *
 * Everything between the samples and the output floats is computed in
 * double precision: the reference is NumPy float64, and quiet FFT bins lose
 * all their relative precision in float32 (the FFT error scales with the
 * loudest bin), which would show up after the log.
 */
#include "asr_features.h"

#include <math.h>
#include <string.h>

#include "alloc.h"

struct pl_asr_fe {
    struct pl_asr_fe_opts o;
    int n_bins;      /* n_fft / 2 + 1 */
    double *window;  /* [win_length] */
    double *cos_tab; /* [n_fft / 2] twiddles */
    double *sin_tab;
    int *bitrev; /* [n_fft] */
    double *fb;  /* [n_mels][n_bins] */
    int *fb_lo;  /* first non-zero bin of each filter */
    int *fb_hi;  /* one past the last non-zero bin */
    float *mean; /* FIXED / RUNNING prior: [n_mels] (NULL otherwise) */
    float *std;
};

/* Running statistics of the RUNNING normalization (also used offline). */
struct norm_state {
    double *sum;   /* [n_mels] */
    double *sumsq; /* [n_mels] */
    double count;
};

struct pl_asr_fe_stream {
    const struct pl_asr_fe *fe;
    double *buf; /* pre-processed samples from absolute index buf_start */
    size_t buf_len;
    size_t buf_cap;
    size_t buf_start;
    size_t total;      /* samples fed so far */
    size_t next_frame; /* index of the next frame to emit */
    double prev;       /* last raw sample (pre-emphasis) */
    uint64_t rng;      /* dither generator state */
    int finished;
    struct norm_state ns;
    bool keep_lm;   /* keep the log-mels (pl_asr_fe_stream_keep_logmel) */
    double *lm;     /* [n_lm][n_mels] log-mels of the frames emitted since the reset */
    size_t n_lm, cap_lm;
    double *work; /* [2 * n_fft + n_mels] scratch */
};

void pl_asr_fe_opts_default(struct pl_asr_fe_opts *o) {
    memset(o, 0, sizeof *o);
    o->sample_rate = 16000;
    o->win_length = 400;
    o->hop_length = 160;
    o->n_fft = 512;
    o->n_mels = 80;
    o->f_min = 0.0;
    o->f_max = 0.0;
    o->preemph = 0.97;
    o->dither = 0.0;
    o->dither_seed = 0x5eed;
    o->log_guard = 5.9604644775390625e-08; /* 2^-24 */
    o->norm = PL_ASR_NORM_PER_FEATURE;
    o->running_init_frames = 0.0;
}

/* Slaney mel scale (librosa htk=False): linear below 1 kHz, log above. */
static double hz_to_mel(double f) {
    const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
    const double logstep = log(6.4) / 27.0;
    if (f >= min_log_hz)
        return min_log_mel + log(f / min_log_hz) / logstep;
    return f / f_sp;
}

static double mel_to_hz(double m) {
    const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
    const double logstep = log(6.4) / 27.0;
    if (m >= min_log_mel)
        return min_log_hz * exp(logstep * (m - min_log_mel));
    return m * f_sp;
}

static pl_status build_filterbank(struct pl_asr_fe *fe) {
    const struct pl_asr_fe_opts *o = &fe->o;
    int nm = o->n_mels, nb = fe->n_bins;
    double f_max = o->f_max > 0 ? o->f_max : o->sample_rate / 2.0;
    double *hz = pl_malloc(sizeof(double) * (size_t)(nm + 2));
    if (!hz)
        return PL_ERR(PL_E_NOMEM, "asr front end: mel points");
    double m_lo = hz_to_mel(o->f_min), m_hi = hz_to_mel(f_max);
    for (int i = 0; i < nm + 2; i++)
        hz[i] = mel_to_hz(m_lo + (m_hi - m_lo) * i / (nm + 1));
    for (int m = 0; m < nm; m++) {
        double enorm = 2.0 / (hz[m + 2] - hz[m]);
        int lo = nb, hi = 0;
        for (int k = 0; k < nb; k++) {
            double f = (double)k * o->sample_rate / o->n_fft;
            double lower = (f - hz[m]) / (hz[m + 1] - hz[m]);
            double upper = (hz[m + 2] - f) / (hz[m + 2] - hz[m + 1]);
            double w = lower < upper ? lower : upper;
            if (w < 0)
                w = 0;
            fe->fb[(size_t)m * nb + k] = w * enorm;
            if (w > 0) {
                if (k < lo)
                    lo = k;
                hi = k + 1;
            }
        }
        if (hi == 0)
            lo = 0;
        fe->fb_lo[m] = lo;
        fe->fb_hi[m] = hi;
    }
    pl_free(hz);
    return PL_OK;
}

pl_status pl_asr_fe_create(const struct pl_asr_fe_opts *opts, struct pl_asr_fe **out) {
    pl_status st = PL_OK;
    struct pl_asr_fe *fe = NULL;
    if (!out)
        return PL_ERR(PL_E_INVALID_ARG, "asr front end: out is NULL");
    *out = NULL;
    struct pl_asr_fe_opts o;
    if (opts)
        o = *opts;
    else
        pl_asr_fe_opts_default(&o);
    if (o.sample_rate < 1000 || o.sample_rate > 192000)
        return PL_ERR(PL_E_INVALID_ARG, "asr front end: sample_rate %d", o.sample_rate);
    if (o.n_fft < 16 || o.n_fft > 4096 || (o.n_fft & (o.n_fft - 1)))
        return PL_ERR(PL_E_INVALID_ARG, "asr front end: n_fft %d is not a power of two in 16..4096",
                      o.n_fft);
    if (o.win_length < 2 || o.win_length > o.n_fft)
        return PL_ERR(PL_E_INVALID_ARG, "asr front end: win_length %d outside 2..n_fft %d",
                      o.win_length, o.n_fft);
    if (o.hop_length < 1 || o.hop_length > o.win_length)
        return PL_ERR(PL_E_INVALID_ARG, "asr front end: hop_length %d outside 1..win_length",
                      o.hop_length);
    if (o.n_mels < 1 || o.n_mels > 256)
        return PL_ERR(PL_E_INVALID_ARG, "asr front end: n_mels %d outside 1..256", o.n_mels);
    double nyq = o.sample_rate / 2.0;
    double fmax = o.f_max > 0 ? o.f_max : nyq;
    if (!(o.f_min >= 0) || !(fmax <= nyq) || !(o.f_min < fmax))
        return PL_ERR(PL_E_INVALID_ARG, "asr front end: mel range %g..%g Hz (Nyquist %g)", o.f_min,
                      fmax, nyq);
    if (!(o.preemph >= 0 && o.preemph < 1))
        return PL_ERR(PL_E_INVALID_ARG, "asr front end: preemph %g outside [0, 1)", o.preemph);
    if (!(o.dither >= 0 && o.dither < 1))
        return PL_ERR(PL_E_INVALID_ARG, "asr front end: dither %g outside [0, 1)", o.dither);
    if (!(o.log_guard > 0 && o.log_guard < 1))
        return PL_ERR(PL_E_INVALID_ARG, "asr front end: log_guard %g outside (0, 1)", o.log_guard);
    if (o.norm < PL_ASR_NORM_NONE || o.norm > PL_ASR_NORM_RUNNING)
        return PL_ERR(PL_E_INVALID_ARG, "asr front end: normalization %d", (int)o.norm);
    if (o.norm == PL_ASR_NORM_FIXED && (!o.norm_mean || !o.norm_std))
        return PL_ERR(PL_E_INVALID_ARG, "asr front end: FIXED normalization needs mean and std");
    if (!(o.running_init_frames >= 0))
        return PL_ERR(PL_E_INVALID_ARG, "asr front end: running_init_frames %g",
                      o.running_init_frames);
    if (o.norm_std) {
        for (int m = 0; m < o.n_mels; m++)
            if (!(o.norm_std[m] > 0) || !isfinite(o.norm_std[m]) ||
                !isfinite(o.norm_mean ? o.norm_mean[m] : 0))
                return PL_ERR(PL_E_INVALID_ARG, "asr front end: norm std/mean of bin %d invalid",
                              m);
    }

    fe = pl_calloc(1, sizeof *fe);
    if (!fe)
        return PL_ERR(PL_E_NOMEM, "asr front end");
    fe->o = o;
    fe->o.norm_mean = fe->o.norm_std = NULL;
    fe->n_bins = o.n_fft / 2 + 1;
    fe->window = pl_malloc(sizeof(double) * (size_t)o.win_length);
    fe->cos_tab = pl_malloc(sizeof(double) * (size_t)(o.n_fft / 2));
    fe->sin_tab = pl_malloc(sizeof(double) * (size_t)(o.n_fft / 2));
    fe->bitrev = pl_malloc(sizeof(int) * (size_t)o.n_fft);
    fe->fb = pl_calloc((size_t)o.n_mels * fe->n_bins, sizeof(double));
    fe->fb_lo = pl_malloc(sizeof(int) * (size_t)o.n_mels);
    fe->fb_hi = pl_malloc(sizeof(int) * (size_t)o.n_mels);
    if (!fe->window || !fe->cos_tab || !fe->sin_tab || !fe->bitrev || !fe->fb || !fe->fb_lo ||
        !fe->fb_hi) {
        st = PL_ERR(PL_E_NOMEM, "asr front end tables");
        goto fail;
    }
    if (o.norm_mean && o.norm_std) {
        fe->mean = pl_malloc(sizeof(float) * (size_t)o.n_mels);
        fe->std = pl_malloc(sizeof(float) * (size_t)o.n_mels);
        if (!fe->mean || !fe->std) {
            st = PL_ERR(PL_E_NOMEM, "asr front end statistics");
            goto fail;
        }
        memcpy(fe->mean, o.norm_mean, sizeof(float) * (size_t)o.n_mels);
        memcpy(fe->std, o.norm_std, sizeof(float) * (size_t)o.n_mels);
    }
    /* symmetric Hann: 0.5 - 0.5 cos(2 pi i / (N - 1)) */
    for (int i = 0; i < o.win_length; i++)
        fe->window[i] = 0.5 - 0.5 * cos(2.0 * M_PI * i / (o.win_length - 1));
    for (int i = 0; i < o.n_fft / 2; i++) {
        fe->cos_tab[i] = cos(2.0 * M_PI * i / o.n_fft);
        fe->sin_tab[i] = -sin(2.0 * M_PI * i / o.n_fft);
    }
    int bits = 0;
    while ((1 << bits) < o.n_fft)
        bits++;
    for (int i = 0; i < o.n_fft; i++) {
        int r = 0;
        for (int b = 0; b < bits; b++)
            if (i & (1 << b))
                r |= 1 << (bits - 1 - b);
        fe->bitrev[i] = r;
    }
    PL_TRY_GOTO(st, build_filterbank(fe));
    *out = fe;
    return PL_OK;
fail:
    pl_asr_fe_destroy(fe);
    return st;
}

void pl_asr_fe_destroy(struct pl_asr_fe *fe) {
    if (!fe)
        return;
    pl_free(fe->window);
    pl_free(fe->cos_tab);
    pl_free(fe->sin_tab);
    pl_free(fe->bitrev);
    pl_free(fe->fb);
    pl_free(fe->fb_lo);
    pl_free(fe->fb_hi);
    pl_free(fe->mean);
    pl_free(fe->std);
    pl_free(fe);
}

int pl_asr_fe_n_mels(const struct pl_asr_fe *fe) { return fe->o.n_mels; }

int pl_asr_fe_win_length(const struct pl_asr_fe *fe) { return fe->o.win_length; }

int pl_asr_fe_hop_length(const struct pl_asr_fe *fe) { return fe->o.hop_length; }

const double *pl_asr_fe_filterbank(const struct pl_asr_fe *fe) { return fe->fb; }

size_t pl_asr_fe_n_frames(const struct pl_asr_fe *fe, size_t n_samples) {
    return 1 + n_samples / (size_t)fe->o.hop_length;
}

/* In-place iterative radix-2 FFT of n_fft complex values (re, im). */
static void fft(const struct pl_asr_fe *fe, double *re, double *im) {
    int n = fe->o.n_fft;
    for (int i = 0; i < n; i++) {
        int j = fe->bitrev[i];
        if (j > i) {
            double t = re[i];
            re[i] = re[j];
            re[j] = t;
            t = im[i];
            im[i] = im[j];
            im[j] = t;
        }
    }
    for (int len = 2; len <= n; len <<= 1) {
        int half = len >> 1, step = n / len;
        for (int s = 0; s < n; s += len) {
            for (int k = 0; k < half; k++) {
                double wr = fe->cos_tab[k * step], wi = fe->sin_tab[k * step];
                double xr = re[s + k + half], xi = im[s + k + half];
                double tr = xr * wr - xi * wi, ti = xr * wi + xi * wr;
                re[s + k + half] = re[s + k] - tr;
                im[s + k + half] = im[s + k] - ti;
                re[s + k] += tr;
                im[s + k] += ti;
            }
        }
    }
}

/* Log-mel of one frame. frame: win_length pre-processed samples (zeros where
 * the frame lies outside the signal). work: 2 * n_fft doubles. */
static void frame_logmel(const struct pl_asr_fe *fe, const double *frame, double *work,
                         double *out) {
    int n = fe->o.n_fft, w = fe->o.win_length;
    double *re = work, *im = work + n;
    /* The window's position inside the FFT buffer only rotates the phase. */
    for (int i = 0; i < w; i++)
        re[i] = frame[i] * fe->window[i];
    for (int i = w; i < n; i++)
        re[i] = 0;
    memset(im, 0, sizeof(double) * (size_t)n);
    fft(fe, re, im);
    for (int k = 0; k < fe->n_bins; k++)
        re[k] = re[k] * re[k] + im[k] * im[k];
    for (int m = 0; m < fe->o.n_mels; m++) {
        const double *f = fe->fb + (size_t)m * fe->n_bins;
        double acc = 0;
        for (int k = fe->fb_lo[m]; k < fe->fb_hi[m]; k++)
            acc += f[k] * re[k];
        out[m] = log(acc + fe->o.log_guard);
    }
}

static pl_status norm_init(const struct pl_asr_fe *fe, struct norm_state *ns) {
    ns->sum = pl_calloc((size_t)fe->o.n_mels, sizeof(double));
    ns->sumsq = pl_calloc((size_t)fe->o.n_mels, sizeof(double));
    if (!ns->sum || !ns->sumsq) {
        pl_free(ns->sum);
        pl_free(ns->sumsq);
        ns->sum = ns->sumsq = NULL;
        return PL_ERR(PL_E_NOMEM, "asr front end: normalization state");
    }
    ns->count = 0;
    return PL_OK;
}

static void norm_reset(const struct pl_asr_fe *fe, struct norm_state *ns) {
    memset(ns->sum, 0, sizeof(double) * (size_t)fe->o.n_mels);
    memset(ns->sumsq, 0, sizeof(double) * (size_t)fe->o.n_mels);
    ns->count = 0;
}

static void norm_deinit(struct norm_state *ns) {
    pl_free(ns->sum);
    pl_free(ns->sumsq);
    ns->sum = ns->sumsq = NULL;
}

/* Normalize one frame (not PER_FEATURE) and store it as floats. */
static void norm_frame(const struct pl_asr_fe *fe, struct norm_state *ns, const double *x,
                       float *out) {
    int nm = fe->o.n_mels;
    switch (fe->o.norm) {
    case PL_ASR_NORM_FIXED:
        for (int m = 0; m < nm; m++)
            out[m] = (float)((x[m] - fe->mean[m]) / fe->std[m]);
        break;
    case PL_ASR_NORM_RUNNING: {
        double w0 = fe->o.running_init_frames;
        ns->count += 1;
        double cnt = ns->count + w0;
        for (int m = 0; m < nm; m++) {
            double m0 = fe->mean ? fe->mean[m] : 0.0, s0 = fe->std ? fe->std[m] : 1.0;
            ns->sum[m] += x[m];
            ns->sumsq[m] += x[m] * x[m];
            double mean = (ns->sum[m] + w0 * m0) / cnt;
            double var = (ns->sumsq[m] + w0 * (s0 * s0 + m0 * m0)) / cnt - mean * mean;
            if (var < 0)
                var = 0;
            out[m] = (float)((x[m] - mean) / (sqrt(var) + 1e-5));
        }
        break;
    }
    default:
        for (int m = 0; m < nm; m++)
            out[m] = (float)x[m];
        break;
    }
}

/* Per-utterance normalization of nf frames (mean and unbiased std of each bin). */
static void per_feature(const struct pl_asr_fe *fe, const double *lm, size_t nf, float *res) {
    int nm = fe->o.n_mels;
    for (int m = 0; m < nm; m++) {
        double mean = 0, var = 0;
        for (size_t t = 0; t < nf; t++)
            mean += lm[t * nm + m];
        mean /= (double)nf;
        for (size_t t = 0; t < nf; t++) {
            double d = lm[t * nm + m] - mean;
            var += d * d;
        }
        /* unbiased (n - 1), as NeMo; a single frame has std 0 */
        double sd = nf > 1 ? sqrt(var / (double)(nf - 1)) : 0.0;
        sd += 1e-5;
        for (size_t t = 0; t < nf; t++)
            res[t * nm + m] = (float)((lm[t * nm + m] - mean) / sd);
    }
}

pl_status pl_asr_fe_normalize(const struct pl_asr_fe *fe, const double *lm, size_t nf,
                              float *out) {
    if (!fe || (nf && (!lm || !out)))
        return PL_ERR(PL_E_INVALID_ARG, "asr front end: NULL argument");
    if (nf == 0)
        return PL_OK;
    if (fe->o.norm == PL_ASR_NORM_PER_FEATURE) {
        per_feature(fe, lm, nf, out);
        return PL_OK;
    }
    struct norm_state ns = {0};
    if (fe->o.norm == PL_ASR_NORM_RUNNING)
        PL_TRY(norm_init(fe, &ns));
    for (size_t t = 0; t < nf; t++)
        norm_frame(fe, &ns, lm + t * (size_t)fe->o.n_mels, out + t * (size_t)fe->o.n_mels);
    norm_deinit(&ns);
    return PL_OK;
}

/* splitmix64 -> uniform (0, 1) -> Box-Muller; one Gaussian per sample. */
static double gauss(uint64_t *s) {
    double u[2];
    for (int i = 0; i < 2; i++) {
        uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        u[i] = ((double)(z >> 11) + 0.5) / 9007199254740992.0;
    }
    return sqrt(-2.0 * log(u[0])) * cos(2.0 * M_PI * u[1]);
}

/* Dither and pre-emphasis of n samples, carrying *prev and *rng. */
static void preprocess(const struct pl_asr_fe *fe, const float *x, size_t n, double *y,
                       double *prev, uint64_t *rng) {
    double k = fe->o.preemph, d = fe->o.dither, p = *prev;
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        if (d > 0)
            v += d * gauss(rng);
        y[i] = v - k * p;
        p = v;
    }
    *prev = p;
}

static pl_status check_finite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return PL_ERR(PL_E_INVALID_ARG, "asr front end: sample %zu is not finite", i);
    return PL_OK;
}

pl_status pl_asr_fe_compute(const struct pl_asr_fe *fe, const float *samples, size_t n,
                            float **feats, size_t *n_frames) {
    pl_status st = PL_OK;
    double *y = NULL, *work = NULL, *lm = NULL;
    float *res = NULL;
    struct norm_state ns = {0};
    if (feats)
        *feats = NULL;
    if (n_frames)
        *n_frames = 0;
    if (!fe || !feats || !n_frames || (!samples && n > 0))
        return PL_ERR(PL_E_INVALID_ARG, "asr front end: NULL argument");
    PL_TRY(check_finite(samples, n));
    int nm = fe->o.n_mels, w = fe->o.win_length, hop = fe->o.hop_length;
    size_t nf = pl_asr_fe_n_frames(fe, n);
    if (nf > SIZE_MAX / sizeof(double) / (size_t)nm)
        return PL_ERR(PL_E_INVALID_ARG, "asr front end: %zu samples is too many", n);
    y = pl_malloc(sizeof(double) * (n ? n : 1));
    work = pl_malloc(sizeof(double) * (size_t)(2 * fe->o.n_fft + w));
    lm = pl_malloc(sizeof(double) * nf * (size_t)nm);
    res = pl_malloc(sizeof(float) * nf * (size_t)nm);
    if (!y || !work || !lm || !res) {
        st = PL_ERR(PL_E_NOMEM, "asr front end: %zu frames", nf);
        goto fail;
    }
    if (fe->o.norm == PL_ASR_NORM_RUNNING)
        PL_TRY_GOTO(st, norm_init(fe, &ns));
    double prev = 0;
    uint64_t rng = fe->o.dither_seed;
    preprocess(fe, samples, n, y, &prev, &rng);
    double *frame = work + 2 * fe->o.n_fft;
    for (size_t t = 0; t < nf; t++) {
        long long start = (long long)t * hop - w / 2;
        for (int i = 0; i < w; i++) {
            long long j = start + i;
            frame[i] = (j >= 0 && (size_t)j < n) ? y[j] : 0.0;
        }
        frame_logmel(fe, frame, work, lm + t * nm);
    }
    if (fe->o.norm == PL_ASR_NORM_PER_FEATURE) {
        per_feature(fe, lm, nf, res);
    } else {
        for (size_t t = 0; t < nf; t++)
            norm_frame(fe, &ns, lm + t * nm, res + t * nm);
    }
    *feats = res;
    *n_frames = nf;
    res = NULL;
fail:
    norm_deinit(&ns);
    pl_free(y);
    pl_free(work);
    pl_free(lm);
    pl_free(res);
    return st;
}

pl_status pl_asr_fe_logmel(const struct pl_asr_fe *fe, const float *samples, size_t n,
                           size_t t0, size_t t1, double *out) {
    if (!fe || (!samples && n > 0) || (t1 > t0 && !out) || t1 < t0)
        return PL_ERR(PL_E_INVALID_ARG, "asr front end: logmel arguments");
    if (fe->o.dither > 0)
        return PL_ERR(PL_E_UNSUPPORTED, "asr front end: logmel of some frames with dither");
    int w = fe->o.win_length, hop = fe->o.hop_length, nm = fe->o.n_mels;
    double *work = pl_malloc(sizeof(double) * (size_t)(2 * fe->o.n_fft + w));
    if (!work)
        return PL_ERR(PL_E_NOMEM, "asr front end: logmel scratch");
    double *frame = work + 2 * fe->o.n_fft, k = fe->o.preemph;
    pl_status st = PL_OK;
    for (size_t t = t0; t < t1; t++) {
        long long start = (long long)t * hop - w / 2;
        for (int i = 0; i < w; i++) {
            long long j = start + i;
            if (j < 0 || (size_t)j >= n) {
                frame[i] = 0.0;
                continue;
            }
            if (!isfinite(samples[j]) || (j > 0 && !isfinite(samples[j - 1]))) {
                st = PL_ERR(PL_E_INVALID_ARG, "asr front end: sample %lld is not finite", j);
                goto fail;
            }
            /* preprocess() without dither: y[j] = x[j] - k x[j - 1], x[-1] = 0 */
            frame[i] = (double)samples[j] - k * (j > 0 ? (double)samples[j - 1] : 0.0);
        }
        frame_logmel(fe, frame, work, out + (t - t0) * (size_t)nm);
    }
fail:
    pl_free(work);
    return st;
}

/* --- streaming -------------------------------------------------------------- */

pl_status pl_asr_fe_stream_create(const struct pl_asr_fe *fe, struct pl_asr_fe_stream **out) {
    pl_status st = PL_OK;
    if (!out)
        return PL_ERR(PL_E_INVALID_ARG, "asr feature stream: out is NULL");
    *out = NULL;
    if (!fe)
        return PL_ERR(PL_E_INVALID_ARG, "asr feature stream: front end is NULL");
    if (fe->o.norm == PL_ASR_NORM_PER_FEATURE)
        return PL_ERR(PL_E_UNSUPPORTED,
                      "asr feature stream: per-utterance normalization needs the whole "
                      "utterance; use FIXED or RUNNING");
    struct pl_asr_fe_stream *s = pl_calloc(1, sizeof *s);
    if (!s)
        return PL_ERR(PL_E_NOMEM, "asr feature stream");
    s->fe = fe;
    s->work =
        pl_malloc(sizeof(double) * (size_t)(2 * fe->o.n_fft + fe->o.win_length + fe->o.n_mels));
    if (!s->work) {
        st = PL_ERR(PL_E_NOMEM, "asr feature stream scratch");
        goto fail;
    }
    PL_TRY_GOTO(st, norm_init(fe, &s->ns));
    pl_asr_fe_stream_reset(s);
    *out = s;
    return PL_OK;
fail:
    pl_asr_fe_stream_destroy(s);
    return st;
}

void pl_asr_fe_stream_destroy(struct pl_asr_fe_stream *s) {
    if (!s)
        return;
    norm_deinit(&s->ns);
    pl_free(s->buf);
    pl_free(s->work);
    pl_free(s->lm);
    pl_free(s);
}

void pl_asr_fe_stream_reset(struct pl_asr_fe_stream *s) {
    if (!s)
        return;
    s->buf_len = 0;
    s->buf_start = 0;
    s->total = 0;
    s->next_frame = 0;
    s->prev = 0;
    s->rng = s->fe->o.dither_seed;
    s->finished = 0;
    s->n_lm = 0;
    if (s->ns.sum)
        norm_reset(s->fe, &s->ns);
}

/* Emit frames t = next_frame .. last (inclusive bound given as `end`,
 * exclusive). Frames read the buffer with zeros outside [0, total). */
static pl_status emit(struct pl_asr_fe_stream *s, size_t end, float **feats, size_t *n_frames) {
    const struct pl_asr_fe *fe = s->fe;
    int nm = fe->o.n_mels, w = fe->o.win_length, hop = fe->o.hop_length;
    if (end <= s->next_frame)
        return PL_OK;
    size_t cnt = end - s->next_frame;
    if (s->keep_lm && s->n_lm + cnt > s->cap_lm) {
        size_t cap = s->cap_lm ? s->cap_lm : 256;
        while (cap < s->n_lm + cnt)
            cap *= 2;
        double *nl = pl_realloc(s->lm, sizeof(double) * cap * (size_t)nm);
        if (!nl)
            return PL_ERR(PL_E_NOMEM, "asr feature stream: %zu kept frames", cap);
        s->lm = nl;
        s->cap_lm = cap;
    }
    float *res = pl_malloc(sizeof(float) * cnt * (size_t)nm);
    if (!res)
        return PL_ERR(PL_E_NOMEM, "asr feature stream: %zu frames", cnt);
    double *frame = s->work + 2 * fe->o.n_fft, *lm = frame + w;
    for (size_t f = 0; f < cnt; f++) {
        size_t t = s->next_frame + f;
        long long start = (long long)t * hop - w / 2;
        for (int i = 0; i < w; i++) {
            long long j = start + i;
            if (j < 0 || (size_t)j >= s->total) {
                frame[i] = 0.0;
            } else {
                PL_ASSERT((size_t)j >= s->buf_start && (size_t)j < s->buf_start + s->buf_len);
                frame[i] = s->buf[(size_t)j - s->buf_start];
            }
        }
        frame_logmel(fe, frame, s->work, lm);
        if (s->keep_lm)
            memcpy(s->lm + (s->n_lm + f) * (size_t)nm, lm, sizeof(double) * (size_t)nm);
        norm_frame(fe, &s->ns, lm, res + f * nm);
    }
    if (s->keep_lm)
        s->n_lm += cnt;
    s->next_frame = end;
    /* drop samples no later frame needs */
    long long keep_from = (long long)s->next_frame * hop - w / 2;
    if (keep_from > (long long)s->buf_start) {
        size_t drop = (size_t)keep_from - s->buf_start;
        if (drop > s->buf_len)
            drop = s->buf_len;
        memmove(s->buf, s->buf + drop, sizeof(double) * (s->buf_len - drop));
        s->buf_len -= drop;
        s->buf_start += drop;
    }
    *feats = res;
    *n_frames = cnt;
    return PL_OK;
}

pl_status pl_asr_fe_stream_feed(struct pl_asr_fe_stream *s, const float *samples, size_t n,
                                float **feats, size_t *n_frames) {
    if (feats)
        *feats = NULL;
    if (n_frames)
        *n_frames = 0;
    if (!s || !feats || !n_frames || (!samples && n > 0))
        return PL_ERR(PL_E_INVALID_ARG, "asr feature stream: NULL argument");
    if (s->finished)
        return PL_ERR(PL_E_INVALID_ARG, "asr feature stream: feed after finish");
    PL_TRY(check_finite(samples, n));
    if (s->buf_len + n > s->buf_cap) {
        size_t cap = s->buf_cap ? s->buf_cap : 4096;
        while (cap < s->buf_len + n)
            cap *= 2;
        double *nb = pl_realloc(s->buf, sizeof(double) * cap);
        if (!nb)
            return PL_ERR(PL_E_NOMEM, "asr feature stream: %zu samples", cap);
        s->buf = nb;
        s->buf_cap = cap;
    }
    preprocess(s->fe, samples, n, s->buf + s->buf_len, &s->prev, &s->rng);
    s->buf_len += n;
    s->total += n;
    /* frame t is complete when t * hop + w - w/2 <= total */
    size_t w = (size_t)s->fe->o.win_length, hop = (size_t)s->fe->o.hop_length;
    size_t right = w - w / 2;
    size_t end = s->total >= right ? (s->total - right) / hop + 1 : 0;
    size_t nf_max = pl_asr_fe_n_frames(s->fe, s->total);
    if (end > nf_max)
        end = nf_max;
    return emit(s, end, feats, n_frames);
}

pl_status pl_asr_fe_stream_finish(struct pl_asr_fe_stream *s, float **feats, size_t *n_frames) {
    if (feats)
        *feats = NULL;
    if (n_frames)
        *n_frames = 0;
    if (!s || !feats || !n_frames)
        return PL_ERR(PL_E_INVALID_ARG, "asr feature stream: NULL argument");
    if (s->finished)
        return PL_ERR(PL_E_INVALID_ARG, "asr feature stream: finished twice");
    PL_TRY(emit(s, pl_asr_fe_n_frames(s->fe, s->total), feats, n_frames));
    s->finished = 1;
    return PL_OK;
}

void pl_asr_fe_stream_keep_logmel(struct pl_asr_fe_stream *s, bool keep) {
    if (s)
        s->keep_lm = keep;
}

const double *pl_asr_fe_stream_logmel(const struct pl_asr_fe_stream *s, size_t *n_frames) {
    if (n_frames)
        *n_frames = s && s->keep_lm ? s->n_lm : 0;
    return s && s->keep_lm && s->n_lm ? s->lm : NULL;
}
