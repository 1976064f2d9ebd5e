/*
 * fake_tts_voice.c - a stand-in for engine/tts/tts_voice.c in parley-tts's service tests
 * (tests/ttssvc.cmake builds parley-tts-fake with it): the same API (tts_voice.h), no network.
 *
 * A "voice" is any existing directory; its name is the directory's base name, language
 * en-US, 22050 Hz, 256-sample frames. Each phone is 80 ms of a tone (frequency from the phone
 * id, amplitude 0.3 times the volume), each pause its pause_ms of silence, both divided by
 * the speaking rate. Samples go to the callback in blocks of chunk_frames (default 32) frames,
 * each block after PL_FAKE_TTS_BLOCK_MS milliseconds (default 20) of "compute", so a long
 * sentence arrives in many blocks spread over time, as the real vocoder delivers them.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc.h"
#include "tts_voice.h"
#include "util.h"

#define RATE 22050
#define HOP 256
#define PHONE_S 0.08

struct pl_tts_voice {
    char name[128];
    int block_ms;
};

pl_status pl_tts_voice_load(const char *dir, const struct pl_tts_voice_opts *opts,
                            struct pl_tts_voice **out) {
    (void)opts;
    *out = NULL;
    struct stat st;
    if (!dir || !*dir) return PL_ERR(PL_E_INVALID_ARG, "voice: no directory");
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return PL_ERR(PL_E_IO, "voice directory %s does not exist", dir);
    struct pl_tts_voice *v = pl_calloc(1, sizeof *v);
    if (!v) return PL_ERR(PL_E_NOMEM, "voice");
    const char *b = strrchr(dir, '/');
    b = b && b[1] ? b + 1 : dir;
    size_t n = strlen(b);
    if (n >= sizeof v->name) n = sizeof v->name - 1;
    memcpy(v->name, b, n);
    const char *ms = getenv("PL_FAKE_TTS_BLOCK_MS");
    v->block_ms = ms ? atoi(ms) : 20; /* NOLINT: test knob */
    *out = v;
    return PL_OK;
}

void pl_tts_voice_destroy(struct pl_tts_voice *v) { pl_free(v); }
const char *pl_tts_voice_name(const struct pl_tts_voice *v) { return v->name; }
const char *pl_tts_voice_language(const struct pl_tts_voice *v) {
    (void)v;
    return "en-US";
}
int pl_tts_voice_sample_rate(const struct pl_tts_voice *v) {
    (void)v;
    return RATE;
}
double pl_tts_voice_frame_seconds(const struct pl_tts_voice *v) {
    (void)v;
    return (double)HOP / RATE;
}

void pl_tts_synth_info_free(struct pl_tts_synth_info *info) {
    if (!info) return;
    pl_free(info->durations);
    info->durations = NULL;
    info->n_symbols = 0;
}

static float mul(float x) { return x > 0 ? x : 1.0f; }

pl_status pl_tts_voice_synth(struct pl_tts_voice *v, const struct pl_tts_sentence *s,
                             const struct pl_tts_synth_opts *opts, pl_tts_pcm_fn fn, void *ud,
                             struct pl_tts_synth_info *info) {
    if (!v || !s || !fn) return PL_ERR(PL_E_INVALID_ARG, "voice synth: NULL");
    struct pl_tts_synth_opts o = {0};
    if (opts) o = *opts;
    size_t n_sym = 0;
    for (size_t i = 0; i < s->n_items; i++)
        n_sym += s->items[i].kind == PL_TTS_ITEM_WORD ? s->items[i].n_phones : 1;
    float *dur = pl_calloc(n_sym + 1, sizeof *dur);
    size_t total = 0, k = 0;
    if (!dur) return PL_ERR(PL_E_NOMEM, "voice durations");
    for (size_t i = 0; i < s->n_items; i++) {
        const struct pl_tts_item *it = &s->items[i];
        float r = mul(o.rate) * mul(it->prosody.rate);
        if (it->kind == PL_TTS_ITEM_WORD) {
            for (size_t j = 0; j < it->n_phones; j++) dur[k++] = (float)(PHONE_S / r);
        } else {
            dur[k++] = (float)(it->pause_ms / 1000.0 / r);
        }
    }
    for (size_t i = 0; i < n_sym; i++) total += (size_t)(dur[i] * RATE);
    size_t block = (size_t)(o.chunk_frames > 0 ? o.chunk_frames : 32) * HOP;
    float *buf = pl_malloc(block * sizeof *buf);
    if (!buf) {
        pl_free(dur);
        return PL_ERR(PL_E_NOMEM, "voice block");
    }
    /* walk the symbols again, writing samples into blocks */
    size_t sym = 0, in_sym = 0, sent = 0, nb = 0;
    size_t item = 0, phone = 0;
    double ph = 0;
    pl_status st = PL_OK;
    while (item < s->n_items && s->items[item].kind == PL_TTS_ITEM_WORD &&
           s->items[item].n_phones == 0)
        item++;
    while (sent < total) {
        size_t n = total - sent < block ? total - sent : block;
        for (size_t i = 0; i < n; i++) {
            while (sym < n_sym && in_sym >= (size_t)(dur[sym] * RATE)) {
                sym++;
                in_sym = 0;
                /* advance (item, phone) to the symbol sym */
                const struct pl_tts_item *it = &s->items[item];
                if (it->kind == PL_TTS_ITEM_WORD && phone + 1 < it->n_phones) {
                    phone++;
                } else {
                    item++;
                    phone = 0;
                    while (item < s->n_items && s->items[item].kind == PL_TTS_ITEM_WORD &&
                           s->items[item].n_phones == 0)
                        item++;
                }
            }
            float x = 0;
            if (item < s->n_items && s->items[item].kind == PL_TTS_ITEM_WORD) {
                const struct pl_tts_item *it = &s->items[item];
                double f = (120.0 + 6.0 * it->phones[phone]) * mul(o.pitch) * mul(it->prosody.pitch);
                ph += 2 * M_PI * f / RATE;
                x = (float)(0.3 * mul(o.volume) * mul(it->prosody.volume) * sin(ph));
            }
            buf[i] = x;
            in_sym++;
        }
        if (v->block_ms > 0) pl_sleep_ms(v->block_ms);
        nb++;
        if (fn(ud, buf, n) != 0) {
            st = PL_E_CANCELLED;
            break;
        }
        sent += n;
    }
    (void)nb;
    pl_free(buf);
    if (info) {
        info->durations = dur;
        info->n_symbols = n_sym;
        info->n_samples = sent;
    } else {
        pl_free(dur);
    }
    return st == PL_OK ? PL_OK : PL_ERR(st, "voice: stopped by the callback");
}
