/*
 * audio_encode.c - float32 audio to s16le, WAV, FLAC, Ogg/Opus (libsndfile
 * writing into a growing memory buffer) and raw G.711.
 */
#include <sndfile.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "audio.h"
#include "audio_impl.h"

pl_status pl_audio_format_for_encoding(enum pl_audio_encoding enc, enum pl_audio_format *fmt) {
    if (!fmt) return PL_ERR(PL_E_INVALID_ARG, "pl_audio_format_for_encoding: fmt is NULL");
    switch ((int)enc) {
    case PL_AUDIO_ENC_LINEAR_PCM: *fmt = PL_AUDIO_FMT_RAW_S16LE; return PL_OK;
    case PL_AUDIO_ENC_FLAC: *fmt = PL_AUDIO_FMT_FLAC; return PL_OK;
    case PL_AUDIO_ENC_MULAW: *fmt = PL_AUDIO_FMT_MULAW; return PL_OK;
    case PL_AUDIO_ENC_ALAW: *fmt = PL_AUDIO_FMT_ALAW; return PL_OK;
    case PL_AUDIO_ENC_OGGOPUS: *fmt = PL_AUDIO_FMT_OGG_OPUS; return PL_OK;
    default: break;
    }
    return PL_ERR(PL_E_INVALID_ARG, "audio: no output format for encoding %d (%s)", (int)enc,
                  pl_audio_encoding_str(enc));
}

/* ---------------------------------------------------------------------------
 * libsndfile virtual I/O into a growing buffer. Encoders seek back to patch
 * headers (WAV sizes, FLAC STREAMINFO), so this is a small random-access
 * file in memory. An allocation failure is remembered in `oom` and turns
 * into a short write, which libsndfile reports.
 */
struct membuf_out {
    uint8_t *p;
    sf_count_t len, cap, pos;
    int oom;
};

static sf_count_t vout_len(void *ud) { return ((struct membuf_out *)ud)->len; }

static sf_count_t vout_seek(sf_count_t off, int whence, void *ud) {
    struct membuf_out *m = ud;
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : m->len;
    sf_count_t np = base + off;
    if (np < 0) return -1;
    m->pos = np;
    return np;
}

static sf_count_t vout_read(void *ptr, sf_count_t count, void *ud) {
    struct membuf_out *m = ud;
    if (count <= 0 || m->pos >= m->len) return 0;
    sf_count_t k = m->len - m->pos < count ? m->len - m->pos : count;
    memcpy(ptr, m->p + m->pos, (size_t)k);
    m->pos += k;
    return k;
}

static sf_count_t vout_write(const void *ptr, sf_count_t count, void *ud) {
    struct membuf_out *m = ud;
    if (count <= 0) return 0;
    sf_count_t end = m->pos + count;
    if (end > m->cap) {
        sf_count_t ncap = m->cap ? m->cap : 4096;
        while (ncap < end)
            ncap *= 2;
        uint8_t *np = pl_realloc(m->p, (size_t)ncap);
        if (!np) {
            m->oom = 1;
            return 0;
        }
        m->p = np;
        m->cap = ncap;
    }
    if (m->pos > m->len) memset(m->p + m->len, 0, (size_t)(m->pos - m->len));
    memcpy(m->p + m->pos, ptr, (size_t)count);
    m->pos = end;
    if (end > m->len) m->len = end;
    return count;
}

static sf_count_t vout_tell(void *ud) { return ((struct membuf_out *)ud)->pos; }

static int opus_rate_ok(int r) {
    return r == 8000 || r == 12000 || r == 16000 || r == 24000 || r == 48000;
}

static int opus_rate_above(int r) {
    static const int rates[] = {8000, 12000, 16000, 24000, 48000};
    for (size_t i = 0; i < PL_ARRAY_LEN(rates); i++)
        if (r <= rates[i]) return rates[i];
    return 48000;
}

static pl_status encode_sndfile(const struct pl_audio *a, enum pl_audio_format fmt, uint8_t **out,
                                size_t *out_len) {
    pl_status st = PL_OK;
    struct membuf_out m = {0};
    struct pl_audio *rs = NULL;
    int16_t *blk = NULL;
    SNDFILE *sf = NULL;
    enum { BLOCK = 4096 };

    if (fmt == PL_AUDIO_FMT_OGG_OPUS && !opus_rate_ok(a->sample_rate)) {
        /* Opus codes only 8/12/16/24/48 kHz: go up to the next of these. */
        PL_TRY_GOTO(st, pl_audio_resample(a, opus_rate_above(a->sample_rate), &rs));
        a = rs;
    }
    SF_INFO sfi;
    memset(&sfi, 0, sizeof(sfi));
    sfi.samplerate = a->sample_rate;
    sfi.channels = a->channels;
    sfi.format = fmt == PL_AUDIO_FMT_WAV    ? (SF_FORMAT_WAV | SF_FORMAT_PCM_16)
                 : fmt == PL_AUDIO_FMT_FLAC ? (SF_FORMAT_FLAC | SF_FORMAT_PCM_16)
                                            : (SF_FORMAT_OGG | SF_FORMAT_OPUS);
    if (!sf_format_check(&sfi)) {
        st = PL_ERR(PL_E_INVALID_ARG, "audio: libsndfile cannot write %d Hz x %d channels here",
                    sfi.samplerate, sfi.channels);
        goto fail;
    }
    size_t ch = (size_t)a->channels;
    if (fmt != PL_AUDIO_FMT_OGG_OPUS) {
        blk = pl_malloc(BLOCK * ch * sizeof(int16_t));
        if (!blk) {
            st = PL_ERR(PL_E_NOMEM, "audio: out of memory encoding");
            goto fail;
        }
    }
    SF_VIRTUAL_IO vio = {vout_len, vout_seek, vout_read, vout_write, vout_tell};
    sf = pl__audio_sf_open_virtual(&vio, SFM_WRITE, &sfi, &m);
    if (!sf) {
        st = m.oom ? PL_ERR(PL_E_NOMEM, "audio: out of memory starting the encoder")
                   : PL_ERR(PL_E_INTERNAL, "audio: libsndfile cannot start the encoder");
        goto fail;
    }
    for (size_t done = 0; done < a->n_frames;) {
        size_t k = a->n_frames - done < BLOCK ? a->n_frames - done : BLOCK;
        sf_count_t w;
        if (blk) {
            pl_audio_float_to_s16(a->samples + done * ch, k * ch, blk);
            w = sf_writef_short(sf, blk, (sf_count_t)k);
        } else {
            w = sf_writef_float(sf, a->samples + done * ch, (sf_count_t)k);
        }
        if (w != (sf_count_t)k) {
            st = m.oom ? PL_ERR(PL_E_NOMEM, "audio: out of memory while encoding")
                       : PL_ERR(PL_E_INTERNAL, "audio: encoder: %s", sf_strerror(sf));
            goto fail;
        }
        done += k;
    }
    int rc = sf_close(sf);
    sf = NULL;
    if (m.oom || rc != 0) {
        st = m.oom ? PL_ERR(PL_E_NOMEM, "audio: out of memory finishing the encoder")
                   : PL_ERR(PL_E_INTERNAL, "audio: encoder close failed (%d)", rc);
        goto fail;
    }
    pl_free(blk);
    pl_audio_destroy(rs);
    *out = m.p;
    *out_len = (size_t)m.len;
    return PL_OK;
fail:
    if (sf) sf_close(sf);
    pl_free(m.p);
    pl_free(blk);
    pl_audio_destroy(rs);
    return st;
}

pl_status pl_audio_encode(const struct pl_audio *a, enum pl_audio_format fmt, uint8_t **out,
                          size_t *out_len) {
    if (!out || !out_len) return PL_ERR(PL_E_INVALID_ARG, "pl_audio_encode: NULL out");
    *out = NULL;
    *out_len = 0;
    if (!a) return PL_ERR(PL_E_INVALID_ARG, "pl_audio_encode: audio is NULL");
    if (a->channels < 1 || a->channels > PL_AUDIO_MAX_CHANNELS)
        return PL_ERR(PL_E_INVALID_ARG, "audio encode: %d channels (must be 1..%d)", a->channels,
                      PL_AUDIO_MAX_CHANNELS);
    if (a->sample_rate < PL_AUDIO_MIN_RATE || a->sample_rate > PL_AUDIO_MAX_RATE)
        return PL_ERR(PL_E_INVALID_ARG, "audio encode: sample rate %d Hz (must be %d..%d)",
                      a->sample_rate, PL_AUDIO_MIN_RATE, PL_AUDIO_MAX_RATE);
    if (!a->samples && a->n_frames > 0)
        return PL_ERR(PL_E_INVALID_ARG, "audio encode: NULL samples for %zu frames", a->n_frames);
    size_t ch = (size_t)a->channels;
    if (a->n_frames > SIZE_MAX / 2 / ch - 1)
        return PL_ERR(PL_E_INVALID_ARG, "audio encode: %zu frames overflow", a->n_frames);
    size_t ns = a->n_frames * ch;
    switch ((int)fmt) {
    case PL_AUDIO_FMT_RAW_S16LE: {
        uint8_t *p = pl_malloc(ns * 2 + 1);
        if (!p) return PL_ERR(PL_E_NOMEM, "audio encode: out of memory for %zu samples", ns);
        for (size_t i = 0; i < ns; i++) {
            int16_t s;
            pl_audio_float_to_s16(a->samples + i, 1, &s);
            p[2 * i] = (uint8_t)((uint16_t)s & 0xFF);
            p[2 * i + 1] = (uint8_t)((uint16_t)s >> 8);
        }
        *out = p;
        *out_len = ns * 2;
        return PL_OK;
    }
    case PL_AUDIO_FMT_MULAW:
    case PL_AUDIO_FMT_ALAW: {
        uint8_t *p = pl_malloc(ns + 1);
        if (!p) return PL_ERR(PL_E_NOMEM, "audio encode: out of memory for %zu samples", ns);
        if (fmt == PL_AUDIO_FMT_MULAW)
            pl_g711_float_to_mulaw(a->samples, ns, p);
        else
            pl_g711_float_to_alaw(a->samples, ns, p);
        *out = p;
        *out_len = ns;
        return PL_OK;
    }
    case PL_AUDIO_FMT_WAV:
    case PL_AUDIO_FMT_FLAC:
    case PL_AUDIO_FMT_OGG_OPUS: return encode_sndfile(a, fmt, out, out_len);
    default: break;
    }
    return PL_ERR(PL_E_INVALID_ARG, "audio encode: unknown output format %d", (int)fmt);
}
