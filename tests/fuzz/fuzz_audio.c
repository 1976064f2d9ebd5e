/*
 * fuzz_audio.c - audio container sniffing and decoding (common/audio.c).
 *
 * Input: byte 0 picks the encoding the "request" declares (unset, LINEAR_PCM, FLAC, MULAW,
 * OGGOPUS, ALAW, or an unknown value), byte 1 the declared rate and channels; the rest is
 * the audio bytes. Runs pl_audio_probe, pl_audio_decode (as parley-asr calls it: a WAV/FLAC/
 * Ogg header wins, raw data needs a declared rate), and for a WAV or raw layout the
 * streaming path pl_audio_decode_frames on the bytes after the header, in two chunks.
 */
#include <stdint.h>
#include <stdlib.h>

#include "audio.h"
#include "fuzz_util.h"

static const int encodings[] = {PL_AUDIO_ENC_UNSPECIFIED, PL_AUDIO_ENC_LINEAR_PCM,
                                PL_AUDIO_ENC_FLAC,        PL_AUDIO_ENC_MULAW,
                                PL_AUDIO_ENC_OGGOPUS,     PL_AUDIO_ENC_ALAW,
                                7};
static const int rates[] = {0, 8000, 16000, 22050, 44100, 48000, 7999, 96000};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) {
        fz_quiet();
        init = 1;
    }
    struct fz_in in = {data, size};
    uint8_t e = fz_byte(&in), r = fz_byte(&in);
    const uint8_t *p = in.p;
    size_t n = in.n;

    struct pl_audio_info info;
    pl_status st = pl_audio_probe(p, n, &info);

    struct pl_audio_decode_opts o = {0};
    o.encoding = (enum pl_audio_encoding)encodings[e % (sizeof encodings / sizeof *encodings)];
    o.sample_rate = rates[r & 7];
    o.channels = (r >> 3) & 7;     /* 0..7 */
    o.max_frames = 48000 * 10;     /* as a service caps a request */
    struct pl_audio *a = NULL;
    struct pl_audio_info dinfo;
    if (pl_audio_decode(p, n, &o, &a, &dinfo) == PL_OK) {
        if (!a || a->channels < 1 || a->channels > PL_AUDIO_MAX_CHANNELS) abort();
        pl_audio_to_mono(a);
    }
    pl_audio_destroy(a);

    /* the streaming path: a probed WAV header, or raw samples of the declared layout */
    struct pl_audio_info fmt = info;
    if (st == PL_OK && info.container == PL_AUDIO_CONTAINER_NONE) {
        fmt.encoding = (enum pl_audio_encoding)o.encoding;
        fmt.sample_rate = o.sample_rate;
        fmt.channels = o.channels;
        fmt.data_offset = 0;
    }
    if (st == PL_OK && (info.container == PL_AUDIO_CONTAINER_WAV ||
                        info.container == PL_AUDIO_CONTAINER_NONE)) {
        size_t off = fmt.data_offset <= n ? fmt.data_offset : n;
        size_t half = (n - off) / 2, used = 0;
        struct pl_audio *c = NULL;
        if (pl_audio_decode_frames(p + off, half, &fmt, &c, &used) == PL_OK) {
            if (used > half) abort();
            pl_audio_destroy(c);
            c = NULL;
            if (pl_audio_decode_frames(p + off + used, n - off - used, &fmt, &c, &used) == PL_OK)
                pl_audio_destroy(c);
        }
    }
    return 0;
}
