/*
 * asr_audio.c - RecognitionConfig + audio bytes -> model-rate mono signals.
 *
 * Every failure here is the client's (INVALID_ARGUMENT) except memory and the resampler;
 * messages say what was wrong with the audio and how to send it right.
 */
#include <string.h>

#include "alloc.h"
#include "asr_impl.h"
#include "audio.h"

void pl_asrsvc_input_deinit(struct pl_asrsvc_input *in) {
    if (!in) return;
    for (int c = 0; c < in->n_ch; c++) pl_free(in->ch ? in->ch[c] : NULL);
    pl_free(in->ch);
    memset(in, 0, sizeof *in);
}

static bool known_encoding(int e) {
    return e == PL_AUDIO_ENC_UNSPECIFIED || e == PL_AUDIO_ENC_LINEAR_PCM || e == PL_AUDIO_ENC_FLAC ||
           e == PL_AUDIO_ENC_MULAW || e == PL_AUDIO_ENC_OGGOPUS || e == PL_AUDIO_ENC_ALAW;
}

/* Resample one channel of a (frames x channels) to model_rate into a new buffer. */
static pl_status take_channel(const struct pl_audio *a, int c, int model_rate, float **out,
                              size_t *n_out) {
    *out = NULL;
    struct pl_audio *mono = NULL, *rs = NULL;
    pl_status st = pl_audio_create(a->n_frames, 1, a->sample_rate, &mono);
    if (st != PL_OK) return st;
    for (size_t i = 0; i < a->n_frames; i++)
        mono->samples[i] = a->samples[i * (size_t)a->channels + (size_t)c];
    if (a->sample_rate != model_rate) {
        st = pl_audio_resample(mono, model_rate, &rs);
        if (st != PL_OK) goto fail;
        pl_audio_destroy(mono);
        mono = rs;
    }
    *n_out = mono->n_frames;
    *out = mono->samples; /* take the samples; free the shell */
    mono->samples = NULL;
    mono->n_frames = 0;
    if (!*out) {
        *out = pl_malloc(sizeof(float));
        if (!*out) st = PL_ERR(PL_E_NOMEM, "audio");
    }
fail:
    pl_audio_destroy(mono);
    return st;
}

pl_status pl_asrsvc_input_decode(const void *audio, size_t n, int encoding, int sample_rate_hertz,
                              int audio_channel_count, bool separate, int model_rate,
                              double max_seconds, struct pl_asrsvc_input *in) {
    memset(in, 0, sizeof *in);
    if (n == 0 || !audio) return PL_ERR(PL_E_INVALID_ARG, "audio is empty (0 bytes)");
    if (!known_encoding(encoding))
        return PL_ERR(PL_E_INVALID_ARG,
                      "encoding %d is not supported (LINEAR_PCM, FLAC, MULAW, OGGOPUS, ALAW, or "
                      "unset with a WAV/FLAC/Ogg file)",
                      encoding);
    struct pl_audio_info info;
    pl_status st = pl_audio_probe(audio, n, &info);
    if (st != PL_OK)
        return pl__asrsvc_wrap(PL_E_INVALID_ARG, "audio header is malformed");
    bool raw = info.container == PL_AUDIO_CONTAINER_NONE;
    if (raw) {
        if (encoding == PL_AUDIO_ENC_UNSPECIFIED)
            return PL_ERR(PL_E_INVALID_ARG,
                          "audio is not a WAV, FLAC or Ogg file and encoding is unset: send a "
                          "file with its header, or raw LINEAR_PCM/MULAW/ALAW with "
                          "sample_rate_hertz");
        if (encoding == PL_AUDIO_ENC_FLAC || encoding == PL_AUDIO_ENC_OGGOPUS)
            return PL_ERR(PL_E_INVALID_ARG, "encoding %s but the audio has no %s header",
                          pl_audio_encoding_str(encoding),
                          encoding == PL_AUDIO_ENC_FLAC ? "FLAC" : "Ogg/Opus");
        if (sample_rate_hertz <= 0)
            return PL_ERR(PL_E_INVALID_ARG,
                          "sample_rate_hertz is required for raw %s audio (8000..48000)",
                          pl_audio_encoding_str(encoding));
        if (sample_rate_hertz < PL_AUDIO_RAW_MIN_RATE || sample_rate_hertz > PL_AUDIO_RAW_MAX_RATE)
            return PL_ERR(PL_E_INVALID_ARG, "sample_rate_hertz %d is out of range (8000..48000)",
                          sample_rate_hertz);
        if (audio_channel_count < 0 || audio_channel_count > PL_AUDIO_MAX_CHANNELS)
            return PL_ERR(PL_E_INVALID_ARG, "audio_channel_count %d is out of range (1..%d)",
                          audio_channel_count, PL_AUDIO_MAX_CHANNELS);
        info.sample_rate = sample_rate_hertz;
        info.channels = audio_channel_count ? audio_channel_count : 1;
    }
    if (info.container == PL_AUDIO_CONTAINER_OGG_VORBIS)
        return PL_ERR(PL_E_INVALID_ARG, "Ogg/Vorbis audio is not supported (use Ogg/Opus, FLAC or "
                                        "WAV)");
    if (!(max_seconds > 0)) max_seconds = 1800;
    struct pl_audio_decode_opts dopts = {0};
    dopts.encoding = (enum pl_audio_encoding)encoding;
    dopts.sample_rate = raw ? info.sample_rate : 0;
    dopts.channels = raw ? info.channels : 0;
    /* Header rate/channels may be unknown (FLAC, Ogg) until decoding: cap by the highest rate,
     * and separately by memory below. */
    int cap_rate = info.sample_rate > 0 ? info.sample_rate : PL_AUDIO_RAW_MAX_RATE;
    dopts.max_frames = (size_t)(max_seconds * cap_rate) + 1;
    /* and by memory: at most 1 GiB of decoded float samples (a few kB of FLAC can claim hours
     * of silence in 8 channels) */
    size_t mem_frames = ((size_t)1 << 30) / (sizeof(float) * (size_t)(info.channels > 0 ? info.channels : PL_AUDIO_MAX_CHANNELS));
    if (dopts.max_frames > mem_frames) dopts.max_frames = mem_frames;
    struct pl_audio *a = NULL;
    st = pl_audio_decode(audio, n, &dopts, &a, NULL);
    if (st == PL_E_EXHAUSTED)
        return PL_ERR(PL_E_INVALID_ARG, "audio is longer than %.0f s (the service's max_audio_s)",
                      max_seconds);
    if (st == PL_E_NOMEM) return st;
    if (st != PL_OK) return pl__asrsvc_wrap(PL_E_INVALID_ARG, "audio cannot be decoded");
    if ((double)a->n_frames > max_seconds * a->sample_rate + 1) {
        pl_audio_destroy(a);
        return PL_ERR(PL_E_INVALID_ARG, "audio is longer than %.0f s (the service's max_audio_s)",
                      max_seconds);
    }
    if (a->n_frames == 0) {
        pl_audio_destroy(a);
        return PL_ERR(PL_E_INVALID_ARG, "audio holds no samples");
    }
    in->in_rate = a->sample_rate;
    in->in_channels = a->channels;
    in->container = (int)info.container;
    if (!separate || a->channels == 1) {
        st = pl_audio_to_mono(a);
        if (st != PL_OK) goto fail;
    }
    in->n_ch = a->channels;
    in->ch = pl_calloc((size_t)in->n_ch, sizeof *in->ch);
    if (!in->ch) {
        st = PL_ERR(PL_E_NOMEM, "audio channels");
        goto fail;
    }
    for (int c = 0; c < in->n_ch; c++) {
        size_t got = 0;
        st = take_channel(a, c, model_rate, &in->ch[c], &got);
        if (st != PL_OK) goto fail;
        in->n = got;
    }
    pl_audio_destroy(a);
    return PL_OK;
fail:
    pl_audio_destroy(a);
    pl_asrsvc_input_deinit(in);
    return st;
}
