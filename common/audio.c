/*
 * audio.c - audio objects, container sniffing, decoding (raw + libsndfile),
 * G.711 and s16 conversion, downmix. Encoding is in audio_encode.c and
 * resampling in audio_resample.c.
 */
#include "audio.h"

#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <string.h>

#include <pthread.h>

#include "alloc.h"
#include "audio_impl.h"
#include "file.h"
#include "log.h"

/* ---------------------------------------------------------------------------
 * Objects
 */

pl_status pl_audio_create(size_t n_frames, int channels, int sample_rate, struct pl_audio **out) {
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "pl_audio_create: out is NULL");
    *out = NULL;
    if (channels < 1 || channels > PL_AUDIO_MAX_CHANNELS)
        return PL_ERR(PL_E_INVALID_ARG, "audio: %d channels (must be 1..%d)", channels,
                      PL_AUDIO_MAX_CHANNELS);
    if (sample_rate < PL_AUDIO_MIN_RATE || sample_rate > PL_AUDIO_MAX_RATE)
        return PL_ERR(PL_E_INVALID_ARG, "audio: sample rate %d Hz (must be %d..%d)", sample_rate,
                      PL_AUDIO_MIN_RATE, PL_AUDIO_MAX_RATE);
    if (n_frames > SIZE_MAX / sizeof(float) / (size_t)channels - 1)
        return PL_ERR(PL_E_INVALID_ARG, "audio: %zu frames x %d channels overflows", n_frames,
                      channels);
    struct pl_audio *a = pl_calloc(1, sizeof(*a));
    if (!a) return PL_ERR(PL_E_NOMEM, "audio: out of memory for the audio object");
    /* +1 so that zero frames still gives a valid (non-NULL) buffer. */
    a->samples = pl_calloc(n_frames * (size_t)channels + 1, sizeof(float));
    if (!a->samples) {
        pl_free(a);
        return PL_ERR(PL_E_NOMEM, "audio: out of memory for %zu frames x %d channels", n_frames,
                      channels);
    }
    a->n_frames = n_frames;
    a->channels = channels;
    a->sample_rate = sample_rate;
    *out = a;
    return PL_OK;
}

void pl_audio_destroy(struct pl_audio *a) {
    if (!a) return;
    pl_free(a->samples);
    pl_free(a);
}

const char *pl_audio_encoding_str(enum pl_audio_encoding enc) {
    switch (enc) {
    case PL_AUDIO_ENC_UNSPECIFIED: return "ENCODING_UNSPECIFIED";
    case PL_AUDIO_ENC_LINEAR_PCM: return "LINEAR_PCM";
    case PL_AUDIO_ENC_FLAC: return "FLAC";
    case PL_AUDIO_ENC_MULAW: return "MULAW";
    case PL_AUDIO_ENC_OGGOPUS: return "OGGOPUS";
    case PL_AUDIO_ENC_ALAW: return "ALAW";
    }
    return "?";
}

const char *pl_audio_container_str(enum pl_audio_container c) {
    switch (c) {
    case PL_AUDIO_CONTAINER_NONE: return "raw";
    case PL_AUDIO_CONTAINER_WAV: return "wav";
    case PL_AUDIO_CONTAINER_FLAC: return "flac";
    case PL_AUDIO_CONTAINER_OGG_OPUS: return "ogg/opus";
    case PL_AUDIO_CONTAINER_OGG_VORBIS: return "ogg/vorbis";
    }
    return "?";
}

static int encoding_known(int enc) {
    return enc == PL_AUDIO_ENC_UNSPECIFIED || enc == PL_AUDIO_ENC_LINEAR_PCM ||
           enc == PL_AUDIO_ENC_FLAC || enc == PL_AUDIO_ENC_MULAW || enc == PL_AUDIO_ENC_OGGOPUS ||
           enc == PL_AUDIO_ENC_ALAW;
}

/* ---------------------------------------------------------------------------
 * G.711 and s16 conversion
 *
 * Decoding tables are the ITU-T G.711 expansions (as 16-bit values, the same
 * as sox and libsndfile). Encoders round to 14 bits (mu-law) / 13 bits
 * (A-law) and then do the classic segment search, bit-exact with sox.
 */

static const int16_t ulaw_table[256] = {
    -32124, -31100, -30076, -29052, -28028, -27004, -25980, -24956, -23932, -22908, -21884, -20860,
    -19836, -18812, -17788, -16764, -15996, -15484, -14972, -14460, -13948, -13436, -12924, -12412,
    -11900, -11388, -10876, -10364, -9852,  -9340,  -8828,  -8316,  -7932,  -7676,  -7420,  -7164,
    -6908,  -6652,  -6396,  -6140,  -5884,  -5628,  -5372,  -5116,  -4860,  -4604,  -4348,  -4092,
    -3900,  -3772,  -3644,  -3516,  -3388,  -3260,  -3132,  -3004,  -2876,  -2748,  -2620,  -2492,
    -2364,  -2236,  -2108,  -1980,  -1884,  -1820,  -1756,  -1692,  -1628,  -1564,  -1500,  -1436,
    -1372,  -1308,  -1244,  -1180,  -1116,  -1052,  -988,   -924,   -876,   -844,   -812,   -780,
    -748,   -716,   -684,   -652,   -620,   -588,   -556,   -524,   -492,   -460,   -428,   -396,
    -372,   -356,   -340,   -324,   -308,   -292,   -276,   -260,   -244,   -228,   -212,   -196,
    -180,   -164,   -148,   -132,   -120,   -112,   -104,   -96,    -88,    -80,    -72,    -64,
    -56,    -48,    -40,    -32,    -24,    -16,    -8,     0,      32124,  31100,  30076,  29052,
    28028,  27004,  25980,  24956,  23932,  22908,  21884,  20860,  19836,  18812,  17788,  16764,
    15996,  15484,  14972,  14460,  13948,  13436,  12924,  12412,  11900,  11388,  10876,  10364,
    9852,   9340,   8828,   8316,   7932,   7676,   7420,   7164,   6908,   6652,   6396,   6140,
    5884,   5628,   5372,   5116,   4860,   4604,   4348,   4092,   3900,   3772,   3644,   3516,
    3388,   3260,   3132,   3004,   2876,   2748,   2620,   2492,   2364,   2236,   2108,   1980,
    1884,   1820,   1756,   1692,   1628,   1564,   1500,   1436,   1372,   1308,   1244,   1180,
    1116,   1052,   988,    924,    876,    844,    812,    780,    748,    716,    684,    652,
    620,    588,    556,    524,    492,    460,    428,    396,    372,    356,    340,    324,
    308,    292,    276,    260,    244,    228,    212,    196,    180,    164,    148,    132,
    120,    112,    104,    96,     88,     80,     72,     64,     56,     48,     40,     32,
    24,     16,     8,      0,
};

static const int16_t alaw_table[256] = {
    -5504,  -5248,  -6016,  -5760,  -4480,  -4224,  -4992,  -4736,  -7552,  -7296,  -8064,  -7808,
    -6528,  -6272,  -7040,  -6784,  -2752,  -2624,  -3008,  -2880,  -2240,  -2112,  -2496,  -2368,
    -3776,  -3648,  -4032,  -3904,  -3264,  -3136,  -3520,  -3392,  -22016, -20992, -24064, -23040,
    -17920, -16896, -19968, -18944, -30208, -29184, -32256, -31232, -26112, -25088, -28160, -27136,
    -11008, -10496, -12032, -11520, -8960,  -8448,  -9984,  -9472,  -15104, -14592, -16128, -15616,
    -13056, -12544, -14080, -13568, -344,   -328,   -376,   -360,   -280,   -264,   -312,   -296,
    -472,   -456,   -504,   -488,   -408,   -392,   -440,   -424,   -88,    -72,    -120,   -104,
    -24,    -8,     -56,    -40,    -216,   -200,   -248,   -232,   -152,   -136,   -184,   -168,
    -1376,  -1312,  -1504,  -1440,  -1120,  -1056,  -1248,  -1184,  -1888,  -1824,  -2016,  -1952,
    -1632,  -1568,  -1760,  -1696,  -688,   -656,   -752,   -720,   -560,   -528,   -624,   -592,
    -944,   -912,   -1008,  -976,   -816,   -784,   -880,   -848,   5504,   5248,   6016,   5760,
    4480,   4224,   4992,   4736,   7552,   7296,   8064,   7808,   6528,   6272,   7040,   6784,
    2752,   2624,   3008,   2880,   2240,   2112,   2496,   2368,   3776,   3648,   4032,   3904,
    3264,   3136,   3520,   3392,   22016,  20992,  24064,  23040,  17920,  16896,  19968,  18944,
    30208,  29184,  32256,  31232,  26112,  25088,  28160,  27136,  11008,  10496,  12032,  11520,
    8960,   8448,   9984,   9472,   15104,  14592,  16128,  15616,  13056,  12544,  14080,  13568,
    344,    328,    376,    360,    280,    264,    312,    296,    472,    456,    504,    488,
    408,    392,    440,    424,    88,     72,     120,    104,    24,     8,      56,     40,
    216,    200,    248,    232,    152,    136,    184,    168,    1376,   1312,   1504,   1440,
    1120,   1056,   1248,   1184,   1888,   1824,   2016,   1952,   1632,   1568,   1760,   1696,
    688,    656,    752,    720,    560,    528,    624,    592,    944,    912,    1008,   976,
    816,    784,    880,    848,
};

void pl_g711_mulaw_to_float(const uint8_t *src, size_t n, float *dst) {
    for (size_t i = 0; i < n; i++)
        dst[i] = (float)ulaw_table[src[i]] * (1.0f / 32768.0f);
}

void pl_g711_alaw_to_float(const uint8_t *src, size_t n, float *dst) {
    for (size_t i = 0; i < n; i++)
        dst[i] = (float)alaw_table[src[i]] * (1.0f / 32768.0f);
}

static int16_t float_to_s16(float x) {
    /* NaN compares false everywhere and ends up as 0. */
    float v = x * 32768.0f;
    if (v >= 32767.0f) return 32767;
    if (v <= -32768.0f) return -32768;
    if (!(v == v)) return 0;
    return (int16_t)lrintf(v);
}

void pl_audio_s16_to_float(const int16_t *src, size_t n, float *dst) {
    for (size_t i = 0; i < n; i++)
        dst[i] = (float)src[i] * (1.0f / 32768.0f);
}

void pl_audio_float_to_s16(const float *src, size_t n, int16_t *dst) {
    for (size_t i = 0; i < n; i++)
        dst[i] = float_to_s16(src[i]);
}

/* Index of the first segment end >= v, or 8 when v is above all of them. */
static int g711_segment(int v, const int *ends) {
    for (int i = 0; i < 8; i++)
        if (v <= ends[i]) return i;
    return 8;
}

/* Round x to a signed integer of `bits` bits: floor(x * 2^(bits-1) + 0.5),
 * clamped. sox rounds the same way before its G.711 coders. */
static int float_to_bits(float x, int bits) {
    double lim = (double)(1 << (bits - 1));
    double v = floor((double)x * lim + 0.5);
    if (v >= lim - 1) return (int)lim - 1;
    if (v <= -lim) return (int)-lim;
    if (!(v == v)) return 0;
    return (int)v;
}

static uint8_t mulaw_encode14(int v) {
    static const int ends[8] = {0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF};
    int mask;
    if (v < 0) {
        v = -v;
        mask = 0x7F;
    } else {
        mask = 0xFF;
    }
    if (v > 8159) v = 8159;
    v += 0x84 >> 2; /* bias 33 */
    int seg = g711_segment(v, ends);
    if (seg >= 8) return (uint8_t)(0x7F ^ mask);
    return (uint8_t)(((seg << 4) | ((v >> (seg + 1)) & 0xF)) ^ mask);
}

static uint8_t alaw_encode13(int v) {
    static const int ends[8] = {0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF};
    int mask;
    if (v >= 0) {
        mask = 0xD5;
    } else {
        mask = 0x55;
        v = -v - 1;
    }
    int seg = g711_segment(v, ends);
    if (seg >= 8) return (uint8_t)(0x7F ^ mask);
    int aval = seg << 4;
    aval |= (seg < 2) ? ((v >> 1) & 0xF) : ((v >> seg) & 0xF);
    return (uint8_t)(aval ^ mask);
}

void pl_g711_float_to_mulaw(const float *src, size_t n, uint8_t *dst) {
    for (size_t i = 0; i < n; i++)
        dst[i] = mulaw_encode14(float_to_bits(src[i], 14));
}

void pl_g711_float_to_alaw(const float *src, size_t n, uint8_t *dst) {
    for (size_t i = 0; i < n; i++)
        dst[i] = alaw_encode13(float_to_bits(src[i], 13));
}

/* ---------------------------------------------------------------------------
 * Downmix
 */

void pl_audio_downmix(const float *src, size_t n_frames, int channels, float *dst) {
    if (channels <= 1) {
        if (dst != src) memmove(dst, src, n_frames * sizeof(float));
        return;
    }
    float inv = 1.0f / (float)channels;
    /* Frame i reads src[i*ch .. i*ch+ch-1] >= i, so writing dst[i] in
     * increasing order never clobbers unread input when dst == src. */
    for (size_t i = 0; i < n_frames; i++) {
        const float *f = src + i * (size_t)channels;
        float s = 0.0f;
        for (int c = 0; c < channels; c++)
            s += f[c];
        dst[i] = s * inv;
    }
}

pl_status pl_audio_to_mono(struct pl_audio *a) {
    if (!a) return PL_ERR(PL_E_INVALID_ARG, "pl_audio_to_mono: audio is NULL");
    if (a->channels <= 1) return PL_OK;
    pl_audio_downmix(a->samples, a->n_frames, a->channels, a->samples);
    a->channels = 1;
    return PL_OK;
}

/* ---------------------------------------------------------------------------
 * Sniffing
 */

static uint32_t rd_u32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint16_t rd_u16le(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static pl_status check_header_shape(const char *what, int rate, int channels) {
    if (channels < 1 || channels > PL_AUDIO_MAX_CHANNELS)
        return PL_ERR(PL_E_FORMAT, "%s header: %d channels (supported 1..%d)", what, channels,
                      PL_AUDIO_MAX_CHANNELS);
    if (rate < PL_AUDIO_MIN_RATE || rate > PL_AUDIO_MAX_RATE)
        return PL_ERR(PL_E_FORMAT, "%s header: sample rate %d Hz (supported %d..%d)", what, rate,
                      PL_AUDIO_MIN_RATE, PL_AUDIO_MAX_RATE);
    return PL_OK;
}

/*
 * WAV: "RIFF" size "WAVE", then chunks (id[4], u32le size, payload, pad to
 * even). We need "fmt " (format tag, channels, rate, block align, bits;
 * WAVE_FORMAT_EXTENSIBLE carries the real tag in its sub-format GUID) and
 * the header of "data". We check it ourselves before libsndfile sees it, so
 * that only the sample formats we support reach the decoder, and so that a
 * streaming caller learns where the samples start.
 */
static pl_status probe_wav(const uint8_t *p, size_t n, struct pl_audio_info *info) {
    if (n < 12) return PL_ERR(PL_E_FORMAT, "WAV: truncated RIFF header (%zu bytes)", n);
    if (memcmp(p + 8, "WAVE", 4) != 0)
        return PL_ERR(PL_E_FORMAT, "RIFF data is not WAVE (form type '%.4s')", (const char *)p + 8);
    size_t off = 12;
    int have_fmt = 0, tag = 0;
    unsigned block_align = 0;
    while (off + 8 <= n) {
        const uint8_t *ck = p + off;
        uint64_t size = rd_u32le(ck + 4);
        if (memcmp(ck, "fmt ", 4) == 0) {
            if (size < 16) return PL_ERR(PL_E_FORMAT, "WAV: fmt chunk of %u bytes", (unsigned)size);
            if (off + 8 + size > n) return PL_ERR(PL_E_FORMAT, "WAV: truncated fmt chunk");
            const uint8_t *f = ck + 8;
            tag = rd_u16le(f);
            info->channels = rd_u16le(f + 2);
            uint32_t rate = rd_u32le(f + 4);
            info->sample_rate = rate > (uint32_t)PL_AUDIO_MAX_RATE ? -1 : (int)rate;
            block_align = rd_u16le(f + 12);
            info->bits = rd_u16le(f + 14);
            if (tag == 0xFFFE) {
                if (size < 40) return PL_ERR(PL_E_FORMAT, "WAV: short WAVE_FORMAT_EXTENSIBLE");
                tag = rd_u16le(f + 24); /* first two bytes of the sub-format GUID */
            }
            have_fmt = 1;
        } else if (memcmp(ck, "data", 4) == 0) {
            if (!have_fmt) return PL_ERR(PL_E_FORMAT, "WAV: data chunk before fmt chunk");
            info->data_offset = off + 8;
            info->data_bytes = (size_t)size;
            break;
        }
        off += 8 + (size_t)size + (size_t)(size & 1);
        if (size > n) off = n + 1; /* skip past the end: truncated */
    }
    if (!info->data_offset)
        return PL_ERR(PL_E_FORMAT, "WAV: header truncated or no data chunk (%zu bytes)", n);
    switch (tag) {
    case 1: /* PCM */
        if (info->bits != 8 && info->bits != 16 && info->bits != 24 && info->bits != 32)
            return PL_ERR(PL_E_FORMAT, "WAV: %d-bit PCM is not supported", info->bits);
        info->encoding = PL_AUDIO_ENC_LINEAR_PCM;
        break;
    case 3: /* IEEE float */
        if (info->bits != 32 && info->bits != 64)
            return PL_ERR(PL_E_FORMAT, "WAV: %d-bit float is not supported", info->bits);
        info->encoding = PL_AUDIO_ENC_LINEAR_PCM;
        info->is_float = 1;
        break;
    case 6: /* A-law */
    case 7: /* mu-law */
        if (info->bits != 8) return PL_ERR(PL_E_FORMAT, "WAV: G.711 with %d bits", info->bits);
        info->encoding = tag == 6 ? PL_AUDIO_ENC_ALAW : PL_AUDIO_ENC_MULAW;
        break;
    default:
        return PL_ERR(PL_E_FORMAT,
                      "WAV: format tag 0x%04x is not supported (PCM, float, mu-law, A-law only)",
                      tag);
    }
    PL_TRY(check_header_shape("WAV", info->sample_rate, info->channels));
    if (block_align != (unsigned)(info->channels * info->bits / 8))
        return PL_ERR(PL_E_FORMAT, "WAV: block align %u for %d channels of %d bits", block_align,
                      info->channels, info->bits);
    return PL_OK;
}

/* FLAC: "fLaC", then metadata blocks; the first is STREAMINFO (type 0, 34
 * bytes): rate 20 bits, channels-1 3 bits, bits-1 5 bits at bytes 10..13. */
static pl_status probe_flac(const uint8_t *p, size_t n, struct pl_audio_info *info) {
    if (n < 8 + 34) return PL_ERR(PL_E_FORMAT, "FLAC: truncated STREAMINFO (%zu bytes)", n);
    if ((p[4] & 0x7F) != 0 || ((uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7]) < 34)
        return PL_ERR(PL_E_FORMAT, "FLAC: first metadata block is not STREAMINFO");
    const uint8_t *si = p + 8;
    info->sample_rate = (int)((uint32_t)si[10] << 12 | (uint32_t)si[11] << 4 | si[12] >> 4);
    info->channels = ((si[12] >> 1) & 7) + 1;
    info->encoding = PL_AUDIO_ENC_FLAC;
    return check_header_shape("FLAC", info->sample_rate, info->channels);
}

/* Ogg: page header is 27 bytes + segment table (byte 26 = count); the first
 * packet of a stream identifies the codec. libsndfile decodes Opus at the
 * original input rate when Opus supports it, else at 48 kHz. */
static pl_status probe_ogg(const uint8_t *p, size_t n, struct pl_audio_info *info) {
    if (n < 27) return PL_ERR(PL_E_FORMAT, "Ogg: truncated page header (%zu bytes)", n);
    size_t body = 27 + (size_t)p[26];
    if (n < body + 19) return PL_ERR(PL_E_FORMAT, "Ogg: truncated first packet (%zu bytes)", n);
    const uint8_t *b = p + body;
    if (memcmp(b, "OpusHead", 8) == 0) {
        info->container = PL_AUDIO_CONTAINER_OGG_OPUS;
        info->encoding = PL_AUDIO_ENC_OGGOPUS;
        info->channels = b[9];
        uint32_t r = rd_u32le(b + 12);
        info->sample_rate =
            (r == 8000 || r == 12000 || r == 16000 || r == 24000 || r == 48000) ? (int)r : 48000;
        return check_header_shape("Ogg/Opus", info->sample_rate, info->channels);
    }
    if (b[0] == 1 && memcmp(b + 1, "vorbis", 6) == 0) {
        info->container = PL_AUDIO_CONTAINER_OGG_VORBIS;
        info->encoding = PL_AUDIO_ENC_UNSPECIFIED;
        info->channels = b[11];
        uint32_t r = rd_u32le(b + 12);
        info->sample_rate = r > (uint32_t)PL_AUDIO_MAX_RATE ? -1 : (int)r;
        return check_header_shape("Ogg/Vorbis", info->sample_rate, info->channels);
    }
    return PL_ERR(PL_E_FORMAT, "Ogg: stream is neither Opus nor Vorbis");
}

/* Ogg page CRC: CRC-32, polynomial 0x04C11DB7, MSB first, initial value 0,
 * no final xor, over the page with its CRC field read as zero. Bitwise: only
 * the few header pages are checked. */
static uint32_t ogg_crc(const uint8_t *p, size_t n) {
    uint32_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = (i >= 22 && i < 26) ? 0 : p[i];
        crc ^= (uint32_t)b << 24;
        for (int k = 0; k < 8; k++)
            crc = (crc & 0x80000000u) ? (crc << 1) ^ 0x04C11DB7u : crc << 1;
    }
    return crc;
}

/*
 * Before libsndfile sees an Ogg stream, check that its header packets
 * (Opus: OpusHead, OpusTags; Vorbis: identification, comment, setup) are
 * all present, on pages with valid CRCs. libsndfile 1.2.0 leaks the
 * vorbis_info of a Vorbis stream whose headers fail to parse, so truncated
 * or damaged headers must be turned away here. Each page: "OggS", version,
 * flags, granule[8], serial[4], seq[4], crc[4], n_segs, lacing[n_segs],
 * payload; a lacing value < 255 ends a packet.
 */
static pl_status check_ogg_headers(const uint8_t *p, size_t n, enum pl_audio_container c) {
    static const char *const opus_magic[] = {"OpusHead", "OpusTags"};
    static const char *const vorbis_magic[] = {"\001vorbis", "\003vorbis", "\005vorbis"};
    const char *const *magic = c == PL_AUDIO_CONTAINER_OGG_OPUS ? opus_magic : vorbis_magic;
    int need = c == PL_AUDIO_CONTAINER_OGG_OPUS ? 2 : 3;
    size_t off = 0, pkt_len = 0;
    int done = 0, pages = 0;
    uint32_t serial = 0;
    while (done < need) {
        if (off + 27 > n || memcmp(p + off, "OggS", 4) != 0 || p[off + 4] != 0)
            return PL_ERR(PL_E_FORMAT, "Ogg: header packets truncated or damaged at byte %zu", off);
        const uint8_t *pg = p + off;
        size_t nseg = pg[26], body = 0;
        if (off + 27 + nseg > n) return PL_ERR(PL_E_FORMAT, "Ogg: truncated page header");
        for (size_t i = 0; i < nseg; i++)
            body += pg[27 + i];
        size_t plen = 27 + nseg + body;
        if (off + plen > n) return PL_ERR(PL_E_FORMAT, "Ogg: truncated header page %d", pages);
        if (ogg_crc(pg, plen) != rd_u32le(pg + 22))
            return PL_ERR(PL_E_FORMAT, "Ogg: CRC mismatch on header page %d", pages);
        uint32_t s = rd_u32le(pg + 14);
        if (pages == 0) serial = s;
        if (s == serial) {
            const uint8_t *data = pg + 27 + nseg;
            for (size_t i = 0; i < nseg && done < need; i++) {
                size_t seg = pg[27 + i], ml = strlen(magic[done]);
                /* a packet's first segment is 255 bytes or the whole packet */
                if (pkt_len == 0 && (seg < ml || memcmp(data, magic[done], ml) != 0))
                    return PL_ERR(PL_E_FORMAT,
                                  "Ogg: header packet %d is short or of the wrong type", done);
                pkt_len += seg;
                data += seg;
                if (seg < 255) {
                    done++;
                    pkt_len = 0;
                }
            }
        }
        off += plen;
        if (++pages > 64) return PL_ERR(PL_E_FORMAT, "Ogg: header packets span too many pages");
    }
    return PL_OK;
}

pl_status pl_audio_probe(const void *buf, size_t n, struct pl_audio_info *info) {
    if (!info) return PL_ERR(PL_E_INVALID_ARG, "pl_audio_probe: info is NULL");
    memset(info, 0, sizeof(*info));
    if (!buf && n > 0) return PL_ERR(PL_E_INVALID_ARG, "pl_audio_probe: NULL buffer of %zu", n);
    const uint8_t *p = buf;
    pl_status st = PL_OK;
    if (n >= 4 && memcmp(p, "RIFF", 4) == 0) {
        info->container = PL_AUDIO_CONTAINER_WAV;
        st = probe_wav(p, n, info);
    } else if (n >= 4 && memcmp(p, "fLaC", 4) == 0) {
        info->container = PL_AUDIO_CONTAINER_FLAC;
        st = probe_flac(p, n, info);
    } else if (n >= 4 && memcmp(p, "OggS", 4) == 0) {
        st = probe_ogg(p, n, info);
    }
    if (st != PL_OK) {
        memset(info, 0, sizeof(*info));
        return st;
    }
    return PL_OK;
}

/* ---------------------------------------------------------------------------
 * libsndfile virtual I/O over a memory buffer (read side; audio_encode.c has
 * the write side).
 */

struct membuf_in {
    const uint8_t *p;
    sf_count_t len, pos;
};

static sf_count_t vin_len(void *ud) { return ((struct membuf_in *)ud)->len; }

static sf_count_t vin_seek(sf_count_t off, int whence, void *ud) {
    struct membuf_in *m = ud;
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : m->len;
    sf_count_t np = base + off;
    if (np < 0) return -1;
    m->pos = np; /* past the end is allowed; reads there return 0 */
    return np;
}

static sf_count_t vin_read(void *ptr, sf_count_t count, void *ud) {
    struct membuf_in *m = ud;
    if (count <= 0 || m->pos >= m->len) return 0;
    sf_count_t k = m->len - m->pos < count ? m->len - m->pos : count;
    memcpy(ptr, m->p + m->pos, (size_t)k);
    m->pos += k;
    return k;
}

static sf_count_t vin_write(const void *ptr, sf_count_t count, void *ud) {
    PL_UNUSED(ptr);
    PL_UNUSED(count);
    PL_UNUSED(ud);
    return 0;
}

static sf_count_t vin_tell(void *ud) { return ((struct membuf_in *)ud)->pos; }

static pthread_mutex_t sf_open_lock = PTHREAD_MUTEX_INITIALIZER;

SNDFILE *pl__audio_sf_open_virtual(SF_VIRTUAL_IO *vio, int mode, SF_INFO *info, void *ud) {
    pthread_mutex_lock(&sf_open_lock);
    SNDFILE *sf = sf_open_virtual(vio, mode, info, ud);
    pthread_mutex_unlock(&sf_open_lock);
    return sf;
}

/* Decode a container that pl_audio_probe() accepted. Reads in blocks and
 * grows the output, because the frame count in a header can lie. */
static pl_status decode_sndfile(const uint8_t *p, size_t n, const struct pl_audio_info *info,
                                size_t max_frames, struct pl_audio **out) {
    pl_status st = PL_OK;
    struct membuf_in m = {p, (sf_count_t)n, 0};
    SF_VIRTUAL_IO vio = {vin_len, vin_seek, vin_read, vin_write, vin_tell};
    SF_INFO sfi;
    memset(&sfi, 0, sizeof(sfi));
    struct pl_audio *a = NULL;
    float *buf = NULL;
    SNDFILE *sf = pl__audio_sf_open_virtual(&vio, SFM_READ, &sfi, &m);
    if (!sf) {
        /* sf_strerror(NULL) reads a global: not thread-safe, so no detail. */
        st = PL_ERR(PL_E_FORMAT, "%s: libsndfile cannot parse the data (%zu bytes)",
                    pl_audio_container_str(info->container), n);
        goto fail;
    }
    PL_TRY_GOTO(st, check_header_shape(pl_audio_container_str(info->container), sfi.samplerate,
                                       sfi.channels));
    sf_command(sf, SFC_SET_NORM_FLOAT, NULL, SF_TRUE);
    size_t ch = (size_t)sfi.channels;
    size_t cap = 4096, used = 0;
    if (sfi.frames > 0 && (uint64_t)sfi.frames < (uint64_t)max_frames + 1)
        cap = (size_t)sfi.frames + 1;
    if (cap > max_frames + 1) cap = max_frames + 1;
    /* The header's frame count is a claim: a few bytes of FLAC can announce
     * hours. Start from at most 8 frames per input byte and grow. */
    if (cap > n / ch * 8 + 4096) cap = n / ch * 8 + 4096;
    buf = pl_malloc(cap * ch * sizeof(float));
    if (!buf) {
        st = PL_ERR(PL_E_NOMEM, "audio: out of memory decoding %zu frames", cap);
        goto fail;
    }
    for (;;) {
        if (used == cap) {
            if (cap > max_frames) {
                st = PL_ERR(PL_E_EXHAUSTED, "audio: decoded length exceeds %zu frames", max_frames);
                goto fail;
            }
            size_t ncap = cap * 2 > max_frames + 1 ? max_frames + 1 : cap * 2;
            float *nb = pl_realloc(buf, ncap * ch * sizeof(float));
            if (!nb) {
                st = PL_ERR(PL_E_NOMEM, "audio: out of memory decoding %zu frames", ncap);
                goto fail;
            }
            buf = nb;
            cap = ncap;
        }
        sf_count_t got = sf_readf_float(sf, buf + used * ch, (sf_count_t)(cap - used));
        if (got <= 0) break;
        used += (size_t)got;
    }
    if (sf_error(sf) != SF_ERR_NO_ERROR && used == 0) {
        st =
            PL_ERR(PL_E_FORMAT, "%s: %s", pl_audio_container_str(info->container), sf_strerror(sf));
        goto fail;
    }
    if (used > max_frames) {
        st = PL_ERR(PL_E_EXHAUSTED, "audio: decoded length exceeds %zu frames", max_frames);
        goto fail;
    }
    a = pl_calloc(1, sizeof(*a));
    if (!a) {
        st = PL_ERR(PL_E_NOMEM, "audio: out of memory for the audio object");
        goto fail;
    }
    a->samples = buf;
    a->n_frames = used;
    a->channels = sfi.channels;
    a->sample_rate = sfi.samplerate;
    sf_close(sf);
    *out = a;
    return PL_OK;
fail:
    if (sf) sf_close(sf);
    pl_free(buf);
    pl_free(a);
    return st;
}

/* ---------------------------------------------------------------------------
 * Decoding
 */

pl_status pl_audio_decode_raw(const void *buf, size_t n, enum pl_audio_encoding encoding,
                              int sample_rate, int channels, struct pl_audio **out) {
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "pl_audio_decode_raw: out is NULL");
    *out = NULL;
    if (!buf && n > 0) return PL_ERR(PL_E_INVALID_ARG, "audio: NULL buffer of %zu bytes", n);
    size_t width;
    switch ((int)encoding) {
    case PL_AUDIO_ENC_LINEAR_PCM: width = 2; break;
    case PL_AUDIO_ENC_MULAW:
    case PL_AUDIO_ENC_ALAW: width = 1; break;
    default:
        return PL_ERR(PL_E_INVALID_ARG, "audio: encoding %d (%s) is not a raw encoding",
                      (int)encoding, pl_audio_encoding_str(encoding));
    }
    if (sample_rate < PL_AUDIO_RAW_MIN_RATE || sample_rate > PL_AUDIO_RAW_MAX_RATE)
        return PL_ERR(PL_E_INVALID_ARG, "audio: raw sample rate %d Hz (must be %d..%d)",
                      sample_rate, PL_AUDIO_RAW_MIN_RATE, PL_AUDIO_RAW_MAX_RATE);
    if (channels < 1 || channels > PL_AUDIO_MAX_CHANNELS)
        return PL_ERR(PL_E_INVALID_ARG, "audio: raw channel count %d (must be 1..%d)", channels,
                      PL_AUDIO_MAX_CHANNELS);
    size_t frame = width * (size_t)channels;
    if (n % frame != 0) {
        if (width == 2 && n % 2 != 0)
            return PL_ERR(PL_E_FORMAT, "audio: odd byte count %zu for 16-bit LINEAR_PCM", n);
        return PL_ERR(PL_E_FORMAT, "audio: %zu bytes is not a whole number of %d-channel frames", n,
                      channels);
    }
    struct pl_audio *a = NULL;
    PL_TRY(pl_audio_create(n / frame, channels, sample_rate, &a));
    const uint8_t *p = buf;
    size_t ns = n / width;
    if (encoding == PL_AUDIO_ENC_LINEAR_PCM) {
        for (size_t i = 0; i < ns; i++)
            a->samples[i] = (float)(int16_t)rd_u16le(p + 2 * i) * (1.0f / 32768.0f);
    } else if (encoding == PL_AUDIO_ENC_MULAW) {
        pl_g711_mulaw_to_float(p, ns, a->samples);
    } else {
        pl_g711_alaw_to_float(p, ns, a->samples);
    }
    *out = a;
    return PL_OK;
}

pl_status pl_audio_decode_frames(const void *buf, size_t n, const struct pl_audio_info *fmt,
                                 struct pl_audio **out, size_t *consumed) {
    if (!out || !consumed) return PL_ERR(PL_E_INVALID_ARG, "pl_audio_decode_frames: NULL out");
    *out = NULL;
    *consumed = 0;
    if (!fmt) return PL_ERR(PL_E_INVALID_ARG, "pl_audio_decode_frames: fmt is NULL");
    if (!buf && n > 0) return PL_ERR(PL_E_INVALID_ARG, "audio: NULL buffer of %zu bytes", n);
    if (fmt->container != PL_AUDIO_CONTAINER_NONE && fmt->container != PL_AUDIO_CONTAINER_WAV)
        return PL_ERR(PL_E_INVALID_ARG, "audio: cannot stream-decode %s frames",
                      pl_audio_container_str(fmt->container));
    int bits, kind; /* kind: 0 int PCM, 1 float, 2 mu-law, 3 A-law */
    switch ((int)fmt->encoding) {
    case PL_AUDIO_ENC_LINEAR_PCM:
        bits = fmt->container == PL_AUDIO_CONTAINER_NONE ? 16 : fmt->bits;
        kind = fmt->container == PL_AUDIO_CONTAINER_WAV && fmt->is_float ? 1 : 0;
        break;
    case PL_AUDIO_ENC_MULAW: bits = 8, kind = 2; break;
    case PL_AUDIO_ENC_ALAW: bits = 8, kind = 3; break;
    default:
        return PL_ERR(PL_E_INVALID_ARG, "audio: encoding %s has no fixed frame layout",
                      pl_audio_encoding_str(fmt->encoding));
    }
    if ((kind == 0 && bits != 8 && bits != 16 && bits != 24 && bits != 32) ||
        (kind == 1 && bits != 32 && bits != 64))
        return PL_ERR(PL_E_INVALID_ARG, "audio: %d-bit %s samples", bits,
                      kind ? "float" : "integer");
    if (fmt->channels < 1 || fmt->channels > PL_AUDIO_MAX_CHANNELS)
        return PL_ERR(PL_E_INVALID_ARG, "audio: %d channels (must be 1..%d)", fmt->channels,
                      PL_AUDIO_MAX_CHANNELS);
    size_t width = (size_t)bits / 8, frame = width * (size_t)fmt->channels;
    size_t frames = n / frame, ns = frames * (size_t)fmt->channels;
    struct pl_audio *a = NULL;
    PL_TRY(pl_audio_create(frames, fmt->channels, fmt->sample_rate, &a));
    const uint8_t *p = buf;
    float *d = a->samples;
    if (kind == 2) {
        pl_g711_mulaw_to_float(p, ns, d);
    } else if (kind == 3) {
        pl_g711_alaw_to_float(p, ns, d);
    } else if (kind == 1 && bits == 32) {
        for (size_t i = 0; i < ns; i++) {
            uint32_t u = rd_u32le(p + 4 * i);
            memcpy(&d[i], &u, 4);
        }
    } else if (kind == 1) {
        for (size_t i = 0; i < ns; i++) {
            uint64_t u = (uint64_t)rd_u32le(p + 8 * i) | (uint64_t)rd_u32le(p + 8 * i + 4) << 32;
            double v;
            memcpy(&v, &u, 8);
            d[i] = (float)v;
        }
    } else if (bits == 8) { /* WAV 8-bit PCM is unsigned */
        for (size_t i = 0; i < ns; i++)
            d[i] = (float)((int)p[i] - 128) * (1.0f / 128.0f);
    } else if (bits == 16) {
        for (size_t i = 0; i < ns; i++)
            d[i] = (float)(int16_t)rd_u16le(p + 2 * i) * (1.0f / 32768.0f);
    } else if (bits == 24) {
        for (size_t i = 0; i < ns; i++) {
            const uint8_t *q = p + 3 * i;
            int32_t v =
                (int32_t)((uint32_t)q[0] << 8 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 24);
            d[i] = (float)(v >> 8) * (1.0f / 8388608.0f);
        }
    } else {
        for (size_t i = 0; i < ns; i++)
            d[i] = (float)(int32_t)rd_u32le(p + 4 * i) * (1.0f / 2147483648.0f);
    }
    *out = a;
    *consumed = frames * frame;
    return PL_OK;
}

pl_status pl_audio_decode(const void *buf, size_t n, const struct pl_audio_decode_opts *opts,
                          struct pl_audio **out, struct pl_audio_info *info) {
    static const struct pl_audio_decode_opts none = {0};
    struct pl_audio_info tmp;
    if (!info) info = &tmp;
    memset(info, 0, sizeof(*info));
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "pl_audio_decode: out is NULL");
    *out = NULL;
    if (!opts) opts = &none;
    if (!buf && n > 0) return PL_ERR(PL_E_INVALID_ARG, "audio: NULL buffer of %zu bytes", n);
    if (!encoding_known((int)opts->encoding))
        return PL_ERR(PL_E_INVALID_ARG, "audio: unknown encoding %d", (int)opts->encoding);
    if (n == 0) return PL_ERR(PL_E_FORMAT, "audio: empty buffer");
    size_t max_frames = opts->max_frames ? opts->max_frames : PL_AUDIO_DEFAULT_MAX_FRAMES;

    PL_TRY(pl_audio_probe(buf, n, info));
    if (info->container == PL_AUDIO_CONTAINER_NONE) {
        switch (opts->encoding) {
        case PL_AUDIO_ENC_UNSPECIFIED:
            return PL_ERR(PL_E_FORMAT, "audio: no RIFF/fLaC/OggS header and encoding unspecified");
        case PL_AUDIO_ENC_FLAC:
            return PL_ERR(PL_E_FORMAT, "audio: encoding FLAC but the data has no fLaC header");
        case PL_AUDIO_ENC_OGGOPUS:
            return PL_ERR(PL_E_FORMAT, "audio: encoding OGGOPUS but the data has no OggS header");
        default: break;
        }
        int width = opts->encoding == PL_AUDIO_ENC_LINEAR_PCM ? 2 : 1;
        int ch = opts->channels;
        if (ch >= 1 && ch <= PL_AUDIO_MAX_CHANNELS && n / (size_t)(width * ch) > max_frames)
            return PL_ERR(PL_E_EXHAUSTED, "audio: raw input exceeds %zu frames", max_frames);
        PL_TRY(pl_audio_decode_raw(buf, n, opts->encoding, opts->sample_rate, ch, out));
        info->encoding = opts->encoding;
        info->sample_rate = opts->sample_rate;
        info->channels = ch;
        info->bits = width * 8;
        info->data_bytes = n;
        return PL_OK;
    }
    if (info->container == PL_AUDIO_CONTAINER_OGG_OPUS ||
        info->container == PL_AUDIO_CONTAINER_OGG_VORBIS) {
        pl_status hs = check_ogg_headers(buf, n, info->container);
        if (hs != PL_OK) {
            memset(info, 0, sizeof(*info));
            return hs;
        }
    }
    pl_status st;
    if (info->container == PL_AUDIO_CONTAINER_WAV && info->data_bytes == 0 &&
        n > info->data_offset) {
        /* A writer that could not seek back (a pipe, a live recorder) leaves
         * the data size 0; libsndfile would then see no samples. Read the
         * samples to the end of the buffer instead. */
        size_t used;
        const uint8_t *d = (const uint8_t *)buf + info->data_offset;
        size_t frame = (size_t)info->channels * (size_t)(info->bits / 8);
        if ((n - info->data_offset) / frame > max_frames)
            st = PL_ERR(PL_E_EXHAUSTED, "audio: WAV data exceeds %zu frames", max_frames);
        else
            st = pl_audio_decode_frames(d, n - info->data_offset, info, out, &used);
    } else {
        /* A WAV goes to libsndfile only up to the end of its data chunk: libsndfile 1.2.0 also
         * parses the chunks after it, and some malformed ones there make it loop forever
         * (found by tests/fuzz/fuzz_audio.c, input in tests/fuzz/regress/audio/). Parley has
         * no use for trailing chunks (LIST, id3). */
        size_t len = n;
        if (info->container == PL_AUDIO_CONTAINER_WAV && info->data_bytes > 0 &&
            info->data_bytes < n - info->data_offset)
            len = info->data_offset + info->data_bytes;
        st = decode_sndfile(buf, len, info, max_frames, out);
    }
    if (st != PL_OK) {
        memset(info, 0, sizeof(*info));
        return st;
    }
    /* libsndfile is authoritative for what it decoded. */
    info->sample_rate = (*out)->sample_rate;
    info->channels = (*out)->channels;
    if (opts->sample_rate > 0 && opts->sample_rate != info->sample_rate)
        info->mismatch |= PL_AUDIO_MISMATCH_RATE;
    if (opts->channels > 0 && opts->channels != info->channels)
        info->mismatch |= PL_AUDIO_MISMATCH_CHANNELS;
    if (opts->encoding != PL_AUDIO_ENC_UNSPECIFIED && opts->encoding != info->encoding)
        info->mismatch |= PL_AUDIO_MISMATCH_ENCODING;
    if (info->mismatch)
        PL_LOGD("audio: %s header (%d Hz, %d ch, %s) differs from request (%d Hz, %d ch, %s)",
                pl_audio_container_str(info->container), info->sample_rate, info->channels,
                pl_audio_encoding_str(info->encoding), opts->sample_rate, opts->channels,
                pl_audio_encoding_str(opts->encoding));
    return PL_OK;
}

pl_status pl_audio_decode_file(const char *path, const struct pl_audio_decode_opts *opts,
                               struct pl_audio **out, struct pl_audio_info *info) {
    if (info) memset(info, 0, sizeof(*info));
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "pl_audio_decode_file: out is NULL");
    *out = NULL;
    if (!path) return PL_ERR(PL_E_INVALID_ARG, "pl_audio_decode_file: path is NULL");
    char *data = NULL;
    size_t len = 0;
    PL_TRY(pl_read_file(path, 0, &data, &len));
    pl_status st = pl_audio_decode((const uint8_t *)data, len, opts, out, info);
    pl_free(data);
    return st;
}
