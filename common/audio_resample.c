/*
 * audio_resample.c - sample-rate conversion with libsoxr (SOXR_HQ, float32
 * interleaved), streaming and one-shot. The one-shot path runs the
 * streaming one, so both produce the same samples.
 */
#include <math.h>
#include <soxr.h>
#include <string.h>

#include "alloc.h"
#include "audio.h"

struct pl_resampler {
    soxr_t soxr; /* NULL when in_rate == out_rate: plain copy */
    int in_rate, out_rate, channels;
    int flushed;
    float *out;     /* output of the last call, owned here */
    size_t out_cap; /* capacity of out in frames */
};

static pl_status check_rates(int in_rate, int out_rate, int channels) {
    if (in_rate < PL_AUDIO_MIN_RATE || in_rate > PL_AUDIO_MAX_RATE ||
        out_rate < PL_AUDIO_MIN_RATE || out_rate > PL_AUDIO_MAX_RATE)
        return PL_ERR(PL_E_INVALID_ARG, "resampler: rates %d -> %d Hz (each must be %d..%d)",
                      in_rate, out_rate, PL_AUDIO_MIN_RATE, PL_AUDIO_MAX_RATE);
    if (channels < 1 || channels > PL_AUDIO_MAX_CHANNELS)
        return PL_ERR(PL_E_INVALID_ARG, "resampler: %d channels (must be 1..%d)", channels,
                      PL_AUDIO_MAX_CHANNELS);
    return PL_OK;
}

pl_status pl_resampler_create(int in_rate, int out_rate, int channels, struct pl_resampler **out) {
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "pl_resampler_create: out is NULL");
    *out = NULL;
    PL_TRY(check_rates(in_rate, out_rate, channels));
    struct pl_resampler *r = pl_calloc(1, sizeof(*r));
    if (!r) return PL_ERR(PL_E_NOMEM, "resampler: out of memory");
    r->in_rate = in_rate;
    r->out_rate = out_rate;
    r->channels = channels;
    if (in_rate != out_rate) {
        soxr_error_t err = NULL;
        soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
        soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
        soxr_runtime_spec_t rt = soxr_runtime_spec(1);
        r->soxr = soxr_create(in_rate, out_rate, (unsigned)channels, &err, &io, &q, &rt);
        if (!r->soxr || err) {
            if (r->soxr) soxr_delete(r->soxr);
            pl_free(r);
            return PL_ERR(PL_E_INTERNAL, "resampler: soxr_create(%d -> %d Hz, %d ch): %s", in_rate,
                          out_rate, channels, soxr_strerror(err));
        }
    }
    *out = r;
    return PL_OK;
}

void pl_resampler_destroy(struct pl_resampler *r) {
    if (!r) return;
    if (r->soxr) soxr_delete(r->soxr);
    pl_free(r->out);
    pl_free(r);
}

pl_status pl_resampler_reset(struct pl_resampler *r) {
    if (!r) return PL_ERR(PL_E_INVALID_ARG, "pl_resampler_reset: resampler is NULL");
    if (r->soxr) {
        soxr_error_t err = soxr_clear(r->soxr);
        if (err) return PL_ERR(PL_E_INTERNAL, "resampler: soxr_clear: %s", err);
    }
    r->flushed = 0;
    return PL_OK;
}

double pl_resampler_delay(const struct pl_resampler *r) {
    return r && r->soxr ? soxr_delay(r->soxr) : 0.0;
}

static pl_status ensure_out(struct pl_resampler *r, size_t frames) {
    if (frames <= r->out_cap) return PL_OK;
    size_t ch = (size_t)r->channels;
    if (frames > SIZE_MAX / sizeof(float) / ch)
        return PL_ERR(PL_E_INVALID_ARG, "resampler: %zu output frames overflow", frames);
    float *nb = pl_realloc(r->out, frames * ch * sizeof(float));
    if (!nb) return PL_ERR(PL_E_NOMEM, "resampler: out of memory for %zu frames", frames);
    r->out = nb;
    r->out_cap = frames;
    return PL_OK;
}

/*
 * Run soxr until it has taken all n input frames (in == NULL: until it has
 * drained everything after end of input). soxr returns less than asked when
 * the output buffer is full, so we grow the buffer and call again; a call
 * that leaves output space unused means soxr has nothing more for now.
 */
static pl_status run(struct pl_resampler *r, const float *in, size_t n, size_t *n_out) {
    size_t ch = (size_t)r->channels;
    double ratio = (double)r->out_rate / (double)r->in_rate;
    size_t want = (size_t)ceil((double)n * ratio) + 64;
    PL_TRY(ensure_out(r, want));
    size_t consumed = 0, produced = 0;
    for (;;) {
        size_t idone = 0, odone = 0, space = r->out_cap - produced;
        soxr_error_t err =
            soxr_process(r->soxr, in ? in + consumed * ch : NULL, in ? n - consumed : 0, &idone,
                         r->out + produced * ch, space, &odone);
        if (err) return PL_ERR(PL_E_INTERNAL, "resampler: soxr_process: %s", err);
        consumed += idone;
        produced += odone;
        if ((!in || consumed == n) && odone < space) break;
        PL_TRY(ensure_out(r, r->out_cap * 2));
    }
    *n_out = produced;
    return PL_OK;
}

pl_status pl_resampler_process(struct pl_resampler *r, const float *in, size_t n_frames,
                               const float **out, size_t *n_out) {
    if (!out || !n_out) return PL_ERR(PL_E_INVALID_ARG, "pl_resampler_process: NULL out");
    *out = NULL;
    *n_out = 0;
    if (!r) return PL_ERR(PL_E_INVALID_ARG, "pl_resampler_process: resampler is NULL");
    if (!in && n_frames > 0)
        return PL_ERR(PL_E_INVALID_ARG, "pl_resampler_process: NULL input of %zu frames", n_frames);
    if (r->flushed)
        return PL_ERR(PL_E_INVALID_ARG, "pl_resampler_process: called after flush without reset");
    size_t got = 0;
    if (!r->soxr) {
        PL_TRY(ensure_out(r, n_frames + 1));
        if (n_frames) memcpy(r->out, in, n_frames * (size_t)r->channels * sizeof(float));
        got = n_frames;
    } else if (n_frames > 0) {
        PL_TRY(run(r, in, n_frames, &got));
    } else {
        PL_TRY(ensure_out(r, 1));
    }
    *out = r->out;
    *n_out = got;
    return PL_OK;
}

pl_status pl_resampler_flush(struct pl_resampler *r, const float **out, size_t *n_out) {
    if (!out || !n_out) return PL_ERR(PL_E_INVALID_ARG, "pl_resampler_flush: NULL out");
    *out = NULL;
    *n_out = 0;
    if (!r) return PL_ERR(PL_E_INVALID_ARG, "pl_resampler_flush: resampler is NULL");
    if (r->flushed)
        return PL_ERR(PL_E_INVALID_ARG, "pl_resampler_flush: already flushed (reset first)");
    size_t got = 0;
    if (r->soxr) {
        PL_TRY(run(r, NULL, 0, &got));
    } else {
        PL_TRY(ensure_out(r, 1));
    }
    r->flushed = 1;
    *out = r->out;
    *n_out = got;
    return PL_OK;
}

pl_status pl_audio_resample(const struct pl_audio *in, int out_rate, struct pl_audio **out) {
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "pl_audio_resample: out is NULL");
    *out = NULL;
    if (!in) return PL_ERR(PL_E_INVALID_ARG, "pl_audio_resample: input is NULL");
    if (!in->samples && in->n_frames > 0)
        return PL_ERR(PL_E_INVALID_ARG, "pl_audio_resample: NULL samples");
    PL_TRY(check_rates(in->sample_rate, out_rate, in->channels));
    pl_status st = PL_OK;
    struct pl_resampler *r = NULL;
    struct pl_audio *a = NULL;
    size_t ch = (size_t)in->channels;
    /* The length a listener expects; soxr's own total can differ by one. */
    size_t target = (size_t)llround((double)in->n_frames * out_rate / in->sample_rate);
    PL_TRY_GOTO(st, pl_audio_create(target, in->channels, out_rate, &a));
    if (out_rate == in->sample_rate) {
        if (target) memcpy(a->samples, in->samples, target * ch * sizeof(float));
        *out = a;
        return PL_OK;
    }
    PL_TRY_GOTO(st, pl_resampler_create(in->sample_rate, out_rate, in->channels, &r));
    const float *o = NULL;
    size_t no = 0, have = 0;
    PL_TRY_GOTO(st, pl_resampler_process(r, in->samples, in->n_frames, &o, &no));
    for (int pass = 0; pass < 2; pass++) {
        size_t k = no < target - have ? no : target - have;
        if (k) memcpy(a->samples + have * ch, o, k * ch * sizeof(float));
        have += k;
        if (pass == 0) PL_TRY_GOTO(st, pl_resampler_flush(r, &o, &no));
    }
    /* A shortfall (at most a frame) stays zero from pl_audio_create. */
    pl_resampler_destroy(r);
    *out = a;
    return PL_OK;
fail:
    pl_resampler_destroy(r);
    pl_audio_destroy(a);
    return st;
}
