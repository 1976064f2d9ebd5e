/*
 * test_audio.c - common/audio: decoding against sox, sniffing, G.711,
 * downmix, resampling (against sox's `rate` and a tone's frequency),
 * encoding round trips, corrupt/truncated/random input and the OOM loop.
 *
 * Test audio is generated at test time with sox in a temporary directory
 * (nothing binary is committed). sox is the oracle: its raw float32 output
 * (`-t f32`, dither off) of the very file we decode.
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <sndfile.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "audio.h"
#include "status.h"

static const int RATES[] = {8000, 16000, 22050, 44100, 48000};

/* ---------------------------------------------------------------------------
 * Helpers
 */

static char tmpdir[256];

/* Each test works in its own directory under rootdir, which the suite's
 * unchecked fixture makes and removes in the parent process: a failing
 * (forked) test leaves nothing behind. */
static char rootdir[200];

static void root_setup(void) {
    const char *base = getenv("TMPDIR");
    snprintf(rootdir, sizeof rootdir, "%s/pl_audio_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(rootdir)) rootdir[0] = 0;
}

static void root_teardown(void) {
    if (!rootdir[0]) return;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", rootdir);
    if (system(cmd) != 0) fprintf(stderr, "test_audio: could not remove %s\n", rootdir);
}

static void mk_tmpdir(void) {
    ck_assert_msg(rootdir[0], "no temporary root directory");
    snprintf(tmpdir, sizeof tmpdir, "%s/t_XXXXXX", rootdir);
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void rm_tmpdir(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Run a shell command built from fmt; the test fails unless it exits 0. */
__attribute__((format(printf, 1, 2))) static void sh(const char *fmt, ...) {
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    ck_assert_msg(rc == 0, "command failed (%d): %s", rc, cmd);
}

static uint8_t *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void write_all(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

/* sox's decode of `in` (sox type args `in_args`) as float32 samples. */
static float *sox_f32(const char *in_args, const char *in, size_t *n_samples) {
    char out[300];
    snprintf(out, sizeof out, "%s/oracle.f32", tmpdir);
    sh("sox %s '%s' -D -t f32 '%s'", in_args, in, out);
    size_t len;
    float *f = (float *)read_all(out, &len);
    *n_samples = len / sizeof(float);
    return f;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || d != d) m = d != d ? INFINITY : d;
    }
    return m;
}

/* 10*log10(signal power / error power) of `got` against `ref`. */
static double snr_db(const float *ref, const float *got, size_t n) {
    double s = 0, e = 0;
    for (size_t i = 0; i < n; i++) {
        s += (double)ref[i] * ref[i];
        double d = (double)ref[i] - got[i];
        e += d * d;
    }
    return e == 0 ? 300.0 : 10.0 * log10(s / e);
}

static const char *fname(const char *name) {
    static char buf[4][300];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* A 0.2 s chirp (+ a second tone on channel 2) made by sox. */
static void sox_make(const char *path, int rate, int ch, const char *enc_args) {
    sh("sox -n -r %d -c %d %s '%s' synth 0.2 sine 200-%d sine 700 vol 0.5", rate, ch, enc_args,
       path, rate / 2 - 200);
}

/* ---------------------------------------------------------------------------
 * Sniffing
 */

static size_t put_wav_header(uint8_t *p, int tag, int ch, int rate, int bits, int block_align,
                             uint32_t data_bytes) {
    size_t o = 0;
#define PUT4(s) (memcpy(p + o, (s), 4), o += 4)
#define PUTU32(v)                                                                                  \
    (p[o] = (uint8_t)(v), p[o + 1] = (uint8_t)((v) >> 8), p[o + 2] = (uint8_t)((v) >> 16),         \
     p[o + 3] = (uint8_t)((v) >> 24), o += 4)
#define PUTU16(v) (p[o] = (uint8_t)(v), p[o + 1] = (uint8_t)((v) >> 8), o += 2)
    PUT4("RIFF");
    PUTU32(36 + data_bytes);
    PUT4("WAVE");
    PUT4("LIST"); /* an odd-sized chunk first, to exercise skipping and padding */
    PUTU32(3);
    memcpy(p + o, "abc\0", 4);
    o += 4;
    PUT4("fmt ");
    PUTU32(16);
    PUTU16(tag);
    PUTU16(ch);
    PUTU32((uint32_t)rate);
    PUTU32((uint32_t)(rate * block_align));
    PUTU16(block_align);
    PUTU16(bits);
    PUT4("data");
    PUTU32(data_bytes);
    return o;
}

START_TEST(test_sniff_table) {
    uint8_t h[128];
    struct pl_audio_info info;
    size_t n = put_wav_header(h, 1, 2, 16000, 16, 4, 400);
    ck_assert_int_eq(pl_audio_probe(h, n, &info), PL_OK);
    ck_assert_int_eq(info.container, PL_AUDIO_CONTAINER_WAV);
    ck_assert_int_eq(info.encoding, PL_AUDIO_ENC_LINEAR_PCM);
    ck_assert_int_eq(info.sample_rate, 16000);
    ck_assert_int_eq(info.channels, 2);
    ck_assert_int_eq(info.bits, 16);
    ck_assert_uint_eq(info.data_offset, n);
    ck_assert_uint_eq(info.data_bytes, 400);

    struct {
        int tag, ch, rate, bits, align;
        pl_status st;
        int enc;
    } wt[] = {
        {7, 1, 8000, 8, 1, PL_OK, PL_AUDIO_ENC_MULAW},
        {6, 1, 8000, 8, 1, PL_OK, PL_AUDIO_ENC_ALAW},
        {3, 1, 44100, 32, 4, PL_OK, PL_AUDIO_ENC_LINEAR_PCM},
        {1, 8, 48000, 24, 24, PL_OK, PL_AUDIO_ENC_LINEAR_PCM},
        {2, 1, 16000, 4, 256, PL_E_FORMAT, 0},  /* MS ADPCM */
        {1, 0, 16000, 16, 0, PL_E_FORMAT, 0},   /* 0 channels */
        {1, 9, 16000, 16, 18, PL_E_FORMAT, 0},  /* 9 channels */
        {1, 1, 0, 16, 2, PL_E_FORMAT, 0},       /* rate 0 */
        {1, 1, 1000000, 16, 2, PL_E_FORMAT, 0}, /* absurd rate */
        {1, 1, 16000, 12, 2, PL_E_FORMAT, 0},   /* 12-bit PCM */
        {1, 2, 16000, 16, 2, PL_E_FORMAT, 0},   /* block align wrong */
        {7, 1, 8000, 16, 2, PL_E_FORMAT, 0},    /* 16-bit mu-law */
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(wt); i++) {
        n = put_wav_header(h, wt[i].tag, wt[i].ch, wt[i].rate, wt[i].bits, wt[i].align, 0);
        pl_status st = pl_audio_probe(h, n, &info);
        ck_assert_msg(st == wt[i].st, "row %zu: %s (%s)", i, pl_status_str(st), pl_last_error());
        if (st == PL_OK)
            ck_assert_int_eq(info.encoding, wt[i].enc);
        else
            ck_assert_int_eq(info.container, PL_AUDIO_CONTAINER_NONE);
    }
    /* RIFF but not WAVE; data before fmt */
    n = put_wav_header(h, 1, 1, 16000, 16, 2, 0);
    memcpy(h + 8, "AVI ", 4);
    ck_assert_int_eq(pl_audio_probe(h, n, &info), PL_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "WAVE"));
    uint8_t d[] = "RIFF\x24\0\0\0WAVEdata\0\0\0\0";
    ck_assert_int_eq(pl_audio_probe(d, sizeof d - 1, &info), PL_E_FORMAT);

    /* FLAC STREAMINFO: 44100 Hz, 2 channels, 16 bits */
    uint8_t fl[42] = {'f', 'L', 'a', 'C', 0x80, 0, 0, 34};
    uint8_t *si = fl + 8;
    si[10] = 44100 >> 12;
    si[11] = (44100 >> 4) & 0xFF;
    si[12] = (uint8_t)(((44100 & 0xF) << 4) | (1 << 1) | 0);
    si[13] = 15 << 4;
    ck_assert_int_eq(pl_audio_probe(fl, sizeof fl, &info), PL_OK);
    ck_assert_int_eq(info.container, PL_AUDIO_CONTAINER_FLAC);
    ck_assert_int_eq(info.sample_rate, 44100);
    ck_assert_int_eq(info.channels, 2);
    ck_assert_int_eq(pl_audio_probe(fl, 41, &info), PL_E_FORMAT);
    fl[4] = 4; /* first block is VORBIS_COMMENT */
    ck_assert_int_eq(pl_audio_probe(fl, sizeof fl, &info), PL_E_FORMAT);

    /* Ogg: first page, one segment, codec id packet */
    uint8_t og[64] = {'O', 'g', 'g', 'S'};
    og[26] = 1;
    og[27] = 19;
    memcpy(og + 28, "OpusHead\x01\x02\0\0\x80\x3e\0\0", 16); /* 2 ch, 16000 Hz */
    ck_assert_int_eq(pl_audio_probe(og, 28 + 19, &info), PL_OK);
    ck_assert_int_eq(info.container, PL_AUDIO_CONTAINER_OGG_OPUS);
    ck_assert_int_eq(info.encoding, PL_AUDIO_ENC_OGGOPUS);
    ck_assert_int_eq(info.channels, 2);
    ck_assert_int_eq(info.sample_rate, 16000);
    memcpy(og + 28, "\x01vorbis\0\0\0\0\x01\x44\xac\0\0", 16); /* 1 ch, 44100 */
    ck_assert_int_eq(pl_audio_probe(og, 28 + 19, &info), PL_OK);
    ck_assert_int_eq(info.container, PL_AUDIO_CONTAINER_OGG_VORBIS);
    ck_assert_int_eq(info.sample_rate, 44100);
    memcpy(og + 28, "Speex   ", 8);
    ck_assert_int_eq(pl_audio_probe(og, 28 + 19, &info), PL_E_FORMAT);
    ck_assert_int_eq(pl_audio_probe(og, 20, &info), PL_E_FORMAT);

    /* no magic: raw */
    ck_assert_int_eq(pl_audio_probe("RIF", 3, &info), PL_OK);
    ck_assert_int_eq(info.container, PL_AUDIO_CONTAINER_NONE);
    ck_assert_int_eq(pl_audio_probe("\x01\x02\x03\x04\x05", 5, &info), PL_OK);
    ck_assert_int_eq(info.container, PL_AUDIO_CONTAINER_NONE);
    ck_assert_int_eq(pl_audio_probe(NULL, 0, &info), PL_OK);
    ck_assert_int_eq(pl_audio_probe(NULL, 4, &info), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_audio_probe(h, 4, NULL), PL_E_INVALID_ARG);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Decoding containers against sox
 */

struct fmt_case {
    const char *name, *ext, *sox_args;
    double tol; /* max abs difference to sox's own decode */
};

static const struct fmt_case FORMATS[] = {
    {"wav-s16", "wav", "-e signed-integer -b 16", 0},
    {"wav-u8", "wav", "-e unsigned-integer -b 8", 0},
    {"wav-s24", "wav", "-e signed-integer -b 24", 0},
    /* float holds 24 bits: libsndfile and sox may round s32 one ulp apart */
    {"wav-s32", "wav", "-e signed-integer -b 32", 1.0 / (1 << 23)},
    {"wav-f32", "wav", "-e floating-point -b 32", 0},
    {"wav-ulaw", "wav", "-e mu-law", 0},
    {"wav-alaw", "wav", "-e a-law", 0},
    {"flac-16", "flac", "-b 16", 0},
    {"flac-24", "flac", "-b 24", 0},
    /* sox decodes Vorbis to s16 through vorbisfile; libsndfile gives floats */
    {"ogg-vorbis", "ogg", "-C 3", 1.0 / 16384},
};

/* Streaming a WAV the way official clients do: the header arrives with the
 * first chunk, samples in chunks of arbitrary sizes. pl_audio_probe() then
 * pl_audio_decode_frames() with carry-over must give exactly the samples of
 * the whole-file decode `ref`. */
static void check_wav_streaming(const uint8_t *bytes, size_t len, const struct pl_audio *ref) {
    struct pl_audio_info pi;
    ck_assert_int_eq(pl_audio_probe(bytes, len < 300 ? len : 300, &pi), PL_OK);
    ck_assert_int_eq(pi.container, PL_AUDIO_CONTAINER_WAV);
    size_t end = pi.data_offset + pi.data_bytes < len ? pi.data_offset + pi.data_bytes : len;
    uint8_t *carry = malloc(len);
    size_t nc = 0, got = 0, pos = pi.data_offset, ch = (size_t)ref->channels;
    unsigned seed = (unsigned)len;
    while (pos < end) {
        size_t k = 1 + (size_t)rand_r(&seed) % 700;
        if (k > end - pos) k = end - pos;
        memcpy(carry + nc, bytes + pos, k);
        nc += k;
        pos += k;
        struct pl_audio *c = NULL;
        size_t used = 0;
        ck_assert_int_eq(pl_audio_decode_frames(carry, nc, &pi, &c, &used), PL_OK);
        ck_assert_int_eq(c->sample_rate, ref->sample_rate);
        ck_assert_uint_le(got + c->n_frames, ref->n_frames);
        ck_assert_msg(c->n_frames == 0 || memcmp(c->samples, ref->samples + got * ch,
                                                 c->n_frames * ch * sizeof(float)) == 0,
                      "streamed WAV frames differ at frame %zu (%d bits)", got, pi.bits);
        got += c->n_frames;
        memmove(carry, carry + used, nc - used);
        nc -= used;
        pl_audio_destroy(c);
    }
    ck_assert_uint_eq(got, ref->n_frames);
    ck_assert_uint_eq(nc, 0);
    free(carry);
}

START_TEST(test_decode_containers_vs_sox) {
    mk_tmpdir();
    for (size_t f = 0; f < PL_ARRAY_LEN(FORMATS); f++) {
        for (size_t r = 0; r < PL_ARRAY_LEN(RATES); r++) {
            for (int ch = 1; ch <= 2; ch++) {
                const struct fmt_case *fc = &FORMATS[f];
                char path[300];
                snprintf(path, sizeof path, "%s/in.%s", tmpdir, fc->ext);
                sox_make(path, RATES[r], ch, fc->sox_args);
                size_t n_ref;
                float *ref = sox_f32("", path, &n_ref);

                /* from the file, encoding unspecified */
                struct pl_audio *a = NULL;
                struct pl_audio_info info;
                pl_status st = pl_audio_decode_file(path, NULL, &a, &info);
                ck_assert_msg(st == PL_OK, "%s %d Hz %d ch: %s", fc->name, RATES[r], ch,
                              pl_last_error());
                ck_assert_int_eq(a->sample_rate, RATES[r]);
                ck_assert_int_eq(a->channels, ch);
                ck_assert_msg(a->n_frames * (size_t)ch == n_ref, "%s %d/%d: %zu vs %zu samples",
                              fc->name, RATES[r], ch, a->n_frames * (size_t)ch, n_ref);
                double d = max_abs_diff(a->samples, ref, n_ref);
                ck_assert_msg(d <= fc->tol, "%s %d Hz %d ch: max diff %g > %g", fc->name, RATES[r],
                              ch, d, fc->tol);
                ck_assert_uint_eq(info.mismatch, 0);

                /* from memory, with the request claiming LINEAR_PCM at another rate
                 * (what official clients do): header wins, mismatch reported */
                size_t len;
                uint8_t *bytes = read_all(path, &len);
                struct pl_audio_decode_opts o = {PL_AUDIO_ENC_LINEAR_PCM,
                                                 RATES[r] == 16000 ? 8000 : 16000, ch, 0};
                struct pl_audio *b = NULL;
                ck_assert_int_eq(pl_audio_decode(bytes, len, &o, &b, &info), PL_OK);
                ck_assert_int_eq(b->sample_rate, RATES[r]);
                ck_assert_uint_eq(b->n_frames, a->n_frames);
                ck_assert_int_eq(memcmp(a->samples, b->samples, n_ref * sizeof(float)), 0);
                ck_assert(info.mismatch & PL_AUDIO_MISMATCH_RATE);
                ck_assert(!(info.mismatch & PL_AUDIO_MISMATCH_CHANNELS));
                int lin = info.container == PL_AUDIO_CONTAINER_WAV &&
                          info.encoding == PL_AUDIO_ENC_LINEAR_PCM;
                ck_assert_int_eq(!!(info.mismatch & PL_AUDIO_MISMATCH_ENCODING), !lin);
                if (info.container == PL_AUDIO_CONTAINER_WAV) {
                    check_wav_streaming(bytes, len, a);
                    /* sizes left 0 by a writer that could not seek back */
                    struct pl_audio_info pi;
                    ck_assert_int_eq(pl_audio_probe(bytes, len, &pi), PL_OK);
                    memset(bytes + 4, 0, 4);
                    memset(bytes + pi.data_offset - 4, 0, 4);
                    struct pl_audio *c = NULL;
                    ck_assert_int_eq(pl_audio_decode(bytes, len, NULL, &c, &info), PL_OK);
                    ck_assert_uint_eq(info.data_bytes, 0);
                    ck_assert_uint_eq(c->n_frames, a->n_frames);
                    ck_assert_int_eq(memcmp(a->samples, c->samples, n_ref * sizeof(float)), 0);
                    pl_audio_destroy(c);
                }
                pl_audio_destroy(a);
                pl_audio_destroy(b);
                free(bytes);
                free(ref);
            }
        }
    }
    rm_tmpdir();
}
END_TEST

START_TEST(test_decode_raw_vs_sox) {
    mk_tmpdir();
    static const struct {
        enum pl_audio_encoding enc;
        const char *sox_type;
    } raws[] = {
        {PL_AUDIO_ENC_LINEAR_PCM, "-t s16 -L"},
        {PL_AUDIO_ENC_MULAW, "-t ul"},
        {PL_AUDIO_ENC_ALAW, "-t al"},
    };
    for (size_t k = 0; k < PL_ARRAY_LEN(raws); k++) {
        for (size_t r = 0; r < PL_ARRAY_LEN(RATES); r++) {
            for (int ch = 1; ch <= 2; ch++) {
                const char *path = fname("in.raw");
                char args[128];
                snprintf(args, sizeof args, "%s -r %d -c %d", raws[k].sox_type, RATES[r], ch);
                sox_make(path, RATES[r], ch, raws[k].sox_type);
                size_t n_ref, len;
                float *ref = sox_f32(args, path, &n_ref);
                uint8_t *bytes = read_all(path, &len);
                struct pl_audio_decode_opts o = {raws[k].enc, RATES[r], ch, 0};
                struct pl_audio *a = NULL;
                struct pl_audio_info info;
                ck_assert_int_eq(pl_audio_decode(bytes, len, &o, &a, &info), PL_OK);
                ck_assert_int_eq(info.container, PL_AUDIO_CONTAINER_NONE);
                ck_assert_uint_eq(a->n_frames * (size_t)ch, n_ref);
                ck_assert_msg(max_abs_diff(a->samples, ref, n_ref) == 0, "%s %d Hz %d ch",
                              pl_audio_encoding_str(raws[k].enc), RATES[r], ch);
                pl_audio_destroy(a);
                ck_assert_int_eq(pl_audio_decode_file(path, &o, &a, NULL), PL_OK);
                ck_assert_uint_eq(a->n_frames * (size_t)ch, n_ref);
                pl_audio_destroy(a);
                free(bytes);
                free(ref);
            }
        }
    }
    rm_tmpdir();
}
END_TEST

/* ---------------------------------------------------------------------------
 * G.711
 */

START_TEST(test_g711_vs_sox) {
    mk_tmpdir();
    /* every s16 value through our encoders and sox's */
    int16_t *all = malloc(65536 * sizeof(int16_t));
    float *fl = malloc(65536 * sizeof(float));
    uint8_t *mine = malloc(65536);
    for (int i = 0; i < 65536; i++)
        all[i] = (int16_t)(i - 32768);
    pl_audio_s16_to_float(all, 65536, fl);
    write_all(fname("all.s16"), all, 65536 * sizeof(int16_t));
    static const struct {
        const char *type;
        void (*enc)(const float *, size_t, uint8_t *);
        void (*dec)(const uint8_t *, size_t, float *);
    } g[] = {{"ul", pl_g711_float_to_mulaw, pl_g711_mulaw_to_float},
             {"al", pl_g711_float_to_alaw, pl_g711_alaw_to_float}};
    for (size_t k = 0; k < 2; k++) {
        sh("sox -t s16 -L -r 8000 -c 1 '%s' -D -t %s '%s'", fname("all.s16"), g[k].type,
           fname("all.g711"));
        size_t len;
        uint8_t *ref = read_all(fname("all.g711"), &len);
        ck_assert_uint_eq(len, 65536);
        g[k].enc(fl, 65536, mine);
        size_t bad = 0;
        for (int i = 0; i < 65536; i++)
            bad += mine[i] != ref[i];
        ck_assert_msg(bad == 0, "%s: %zu of 65536 codes differ from sox", g[k].type, bad);
        free(ref);

        /* all 256 codes: decode like sox, and encode(decode(c)) == c */
        uint8_t codes[256], back[256];
        float dec[256];
        for (int i = 0; i < 256; i++)
            codes[i] = (uint8_t)i;
        write_all(fname("codes.g711"), codes, 256);
        char args[64];
        snprintf(args, sizeof args, "-t %s -r 8000 -c 1", g[k].type);
        size_t n_ref;
        float *fref = sox_f32(args, fname("codes.g711"), &n_ref);
        ck_assert_uint_eq(n_ref, 256);
        g[k].dec(codes, 256, dec);
        ck_assert(max_abs_diff(dec, fref, 256) == 0);
        g[k].enc(dec, 256, back);
        for (int i = 0; i < 256; i++) {
            if (k == 0 && i == 0x7F) continue; /* mu-law -0 encodes as +0 (0xFF) */
            ck_assert_msg(back[i] == i, "%s code 0x%02x -> 0x%02x", g[k].type, i, back[i]);
        }
        free(fref);
    }
    /* clamping and NaN never crash or wrap */
    float odd[] = {2.0f, -2.0f, NAN, INFINITY, -INFINITY, 0.99999f, -1.0f};
    uint8_t u[7], a[7];
    int16_t s[7];
    pl_g711_float_to_mulaw(odd, 7, u);
    pl_g711_float_to_alaw(odd, 7, a);
    pl_audio_float_to_s16(odd, 7, s);
    ck_assert_int_eq(u[0], 0x80);
    ck_assert_int_eq(u[1], 0x00);
    ck_assert_int_eq(s[0], 32767);
    ck_assert_int_eq(s[1], -32768);
    ck_assert_int_eq(s[2], 0);
    ck_assert_int_eq(s[3], 32767);
    ck_assert_int_eq(s[4], -32768);
    ck_assert_int_eq(s[6], -32768);
    free(all);
    free(fl);
    free(mine);
    rm_tmpdir();
}
END_TEST

/* ---------------------------------------------------------------------------
 * Opus (sox cannot write or read it: the oracle is libsndfile used directly
 * plus the source signal)
 */

static void sndfile_write_opus(const char *path, const float *x, size_t n_frames, int ch,
                               int rate) {
    SF_INFO si = {.samplerate = rate, .channels = ch, .format = SF_FORMAT_OGG | SF_FORMAT_OPUS};
    SNDFILE *sf = sf_open(path, SFM_WRITE, &si);
    ck_assert_msg(sf != NULL, "sf_open(%s): %s", path, sf_strerror(NULL));
    ck_assert_int_eq(sf_writef_float(sf, x, (sf_count_t)n_frames), (sf_count_t)n_frames);
    ck_assert_int_eq(sf_close(sf), 0);
}

static float *sndfile_read(const char *path, size_t *n_frames, int *ch, int *rate) {
    SF_INFO si;
    memset(&si, 0, sizeof si);
    SNDFILE *sf = sf_open(path, SFM_READ, &si);
    ck_assert_ptr_nonnull(sf);
    float *x = malloc(((size_t)si.frames + 1) * (size_t)si.channels * sizeof(float));
    *n_frames = (size_t)sf_readf_float(sf, x, si.frames);
    *ch = si.channels;
    *rate = si.samplerate;
    sf_close(sf);
    return x;
}

/* Best SNR over small lags: a lossy codec may shift the signal a little. */
static double best_snr(const float *ref, const float *got, size_t n, int ch, int max_lag) {
    double best = -1e9;
    for (int lag = -max_lag; lag <= max_lag; lag++) {
        size_t skip = (size_t)abs(lag) * (size_t)ch, m = n - skip;
        double s = lag >= 0 ? snr_db(ref, got + skip, m) : snr_db(ref + skip, got, m);
        if (s > best) best = s;
    }
    return best;
}

START_TEST(test_opus) {
    mk_tmpdir();
    static const int opus_rates[] = {8000, 16000, 48000};
    for (size_t r = 0; r < PL_ARRAY_LEN(opus_rates); r++) {
        for (int ch = 1; ch <= 2; ch++) {
            int rate = opus_rates[r];
            size_t n = (size_t)rate / 2;
            float *x = malloc(n * (size_t)ch * sizeof(float));
            for (size_t i = 0; i < n; i++)
                for (int c = 0; c < ch; c++)
                    x[i * ch + c] = 0.5f * sinf(2.0f * (float)M_PI * (440.0f + 200.0f * c) *
                                                (float)i / (float)rate);
            const char *path = fname("t.opus");
            sndfile_write_opus(path, x, n, ch, rate);
            size_t n_ref;
            int rch, rrate;
            float *ref = sndfile_read(path, &n_ref, &rch, &rrate);

            struct pl_audio *a = NULL;
            struct pl_audio_info info;
            ck_assert_int_eq(pl_audio_decode_file(path, NULL, &a, &info), PL_OK);
            ck_assert_int_eq(info.container, PL_AUDIO_CONTAINER_OGG_OPUS);
            ck_assert_int_eq(info.encoding, PL_AUDIO_ENC_OGGOPUS);
            ck_assert_int_eq(a->sample_rate, rrate);
            ck_assert_int_eq(a->sample_rate, rate);
            ck_assert_int_eq(a->channels, ch);
            ck_assert_uint_eq(a->n_frames, n_ref);
            ck_assert_uint_eq(a->n_frames, n);
            ck_assert(max_abs_diff(a->samples, ref, n_ref * ch) < 1e-6);
            double s = best_snr(x, a->samples, n * ch, ch, 0);
            ck_assert_msg(s > 10.0, "opus %d Hz %d ch: SNR %.1f dB", rate, ch, s);

            /* from memory, with OGGOPUS declared */
            size_t len;
            uint8_t *bytes = read_all(path, &len);
            struct pl_audio_decode_opts o = {PL_AUDIO_ENC_OGGOPUS, rate, ch, 0};
            struct pl_audio *b = NULL;
            ck_assert_int_eq(pl_audio_decode(bytes, len, &o, &b, &info), PL_OK);
            ck_assert_uint_eq(info.mismatch, 0);
            ck_assert_uint_eq(b->n_frames, n);
            ck_assert(max_abs_diff(a->samples, b->samples, n * ch) == 0);
            pl_audio_destroy(a);
            pl_audio_destroy(b);
            free(bytes);
            free(ref);
            free(x);
        }
    }
    rm_tmpdir();
}
END_TEST

/* ---------------------------------------------------------------------------
 * Encoding round trips
 */

/* A test signal on the s16 grid, so integer formats must return it exactly. */
static struct pl_audio *grid_signal(size_t n, int ch, int rate) {
    struct pl_audio *a = NULL;
    ck_assert_int_eq(pl_audio_create(n, ch, rate, &a), PL_OK);
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < ch; c++) {
            double v = 0.6 * sin(2 * M_PI * (300.0 + 150 * c) * (double)i / rate) +
                       0.2 * sin(2 * M_PI * 2500.0 * (double)i / rate);
            a->samples[i * ch + c] = (float)lrint(v * 32768) / 32768.0f;
        }
    return a;
}

START_TEST(test_encode_roundtrip) {
    mk_tmpdir();
    for (size_t r = 0; r < PL_ARRAY_LEN(RATES); r++) {
        for (int ch = 1; ch <= 2; ch++) {
            int rate = RATES[r];
            size_t n = (size_t)rate / 5;
            struct pl_audio *a = grid_signal(n, ch, rate);
            static const struct {
                enum pl_audio_format fmt;
                enum pl_audio_encoding enc;
                const char *ext, *sox_in;
            } lossless[] = {
                {PL_AUDIO_FMT_RAW_S16LE, PL_AUDIO_ENC_LINEAR_PCM, "raw", "-t s16 -L"},
                {PL_AUDIO_FMT_WAV, PL_AUDIO_ENC_UNSPECIFIED, "wav", ""},
                {PL_AUDIO_FMT_FLAC, PL_AUDIO_ENC_UNSPECIFIED, "flac", ""},
            };
            for (size_t k = 0; k < PL_ARRAY_LEN(lossless); k++) {
                uint8_t *bytes = NULL;
                size_t len = 0;
                ck_assert_int_eq(pl_audio_encode(a, lossless[k].fmt, &bytes, &len), PL_OK);
                struct pl_audio_decode_opts o = {lossless[k].enc, rate, ch, 0};
                struct pl_audio *b = NULL;
                ck_assert_int_eq(pl_audio_decode(bytes, len, &o, &b, NULL), PL_OK);
                ck_assert_uint_eq(b->n_frames, n);
                ck_assert_int_eq(b->channels, ch);
                ck_assert_int_eq(b->sample_rate, rate);
                ck_assert_msg(max_abs_diff(a->samples, b->samples, n * ch) == 0, "%s %d/%d",
                              lossless[k].ext, rate, ch);
                /* sox reads what we wrote and agrees exactly */
                char p[300], args[64];
                snprintf(p, sizeof p, "%s/enc.%s", tmpdir, lossless[k].ext);
                write_all(p, bytes, len);
                if (lossless[k].fmt == PL_AUDIO_FMT_RAW_S16LE)
                    snprintf(args, sizeof args, "%s -r %d -c %d", lossless[k].sox_in, rate, ch);
                else
                    args[0] = 0;
                size_t n_ref;
                float *ref = sox_f32(args, p, &n_ref);
                ck_assert_uint_eq(n_ref, n * ch);
                ck_assert(max_abs_diff(a->samples, ref, n_ref) == 0);
                free(ref);
                pl_free(bytes);
                pl_audio_destroy(b);
            }
            /* G.711: decode(encode(x)) is x quantized, within one step */
            static const enum pl_audio_format g[] = {PL_AUDIO_FMT_MULAW, PL_AUDIO_FMT_ALAW};
            for (size_t k = 0; k < 2; k++) {
                uint8_t *bytes = NULL;
                size_t len = 0;
                ck_assert_int_eq(pl_audio_encode(a, g[k], &bytes, &len), PL_OK);
                ck_assert_uint_eq(len, n * ch);
                enum pl_audio_encoding enc;
                enum pl_audio_format f2;
                enc = k == 0 ? PL_AUDIO_ENC_MULAW : PL_AUDIO_ENC_ALAW;
                ck_assert_int_eq(pl_audio_format_for_encoding(enc, &f2), PL_OK);
                ck_assert_int_eq(f2, g[k]);
                struct pl_audio *b = NULL;
                ck_assert_int_eq(pl_audio_decode_raw(bytes, len, enc, rate, ch, &b), PL_OK);
                double s = snr_db(a->samples, b->samples, n * ch);
                ck_assert_msg(s > 30.0, "G.711 SNR %.1f dB", s);
                pl_free(bytes);
                pl_audio_destroy(b);
            }
            /* Opus: rate goes up to the next Opus rate; length scales with it */
            uint8_t *bytes = NULL;
            size_t len = 0;
            ck_assert_int_eq(pl_audio_encode(a, PL_AUDIO_FMT_OGG_OPUS, &bytes, &len), PL_OK);
            struct pl_audio *b = NULL;
            struct pl_audio_info info;
            ck_assert_int_eq(pl_audio_decode(bytes, len, NULL, &b, &info), PL_OK);
            int want = rate == 22050 ? 24000 : rate == 44100 ? 48000 : rate;
            ck_assert_int_eq(b->sample_rate, want);
            ck_assert_int_eq(b->channels, ch);
            ck_assert_uint_eq(b->n_frames, (size_t)llround((double)n * want / rate));
            if (want == rate) {
                double s = best_snr(a->samples, b->samples, n * ch, ch, 0);
                ck_assert_msg(s > 10.0, "opus round trip %d Hz %d ch: SNR %.1f dB", rate, ch, s);
            }
            pl_free(bytes);
            pl_audio_destroy(b);
            pl_audio_destroy(a);
        }
    }
    /* zero frames still encode/decode */
    struct pl_audio empty = {NULL, 0, 1, 16000};
    uint8_t *bytes = NULL;
    size_t len = 99;
    ck_assert_int_eq(pl_audio_encode(&empty, PL_AUDIO_FMT_RAW_S16LE, &bytes, &len), PL_OK);
    ck_assert_ptr_nonnull(bytes);
    ck_assert_uint_eq(len, 0);
    pl_free(bytes);
    ck_assert_int_eq(pl_audio_encode(&empty, PL_AUDIO_FMT_WAV, &bytes, &len), PL_OK);
    struct pl_audio *b = NULL;
    ck_assert_int_eq(pl_audio_decode(bytes, len, NULL, &b, NULL), PL_OK);
    ck_assert_uint_eq(b->n_frames, 0);
    pl_audio_destroy(b);
    pl_free(bytes);
    /* bad arguments */
    struct pl_audio bad = {NULL, 10, 1, 16000};
    ck_assert_int_eq(pl_audio_encode(&bad, PL_AUDIO_FMT_WAV, &bytes, &len), PL_E_INVALID_ARG);
    ck_assert_ptr_null(bytes);
    bad = (struct pl_audio){NULL, 0, 0, 16000};
    ck_assert_int_eq(pl_audio_encode(&bad, PL_AUDIO_FMT_WAV, &bytes, &len), PL_E_INVALID_ARG);
    bad = (struct pl_audio){NULL, 0, 1, 16000};
    ck_assert_int_eq(pl_audio_encode(&bad, (enum pl_audio_format)99, &bytes, &len),
                     PL_E_INVALID_ARG);
    enum pl_audio_format f;
    ck_assert_int_eq(pl_audio_format_for_encoding(PL_AUDIO_ENC_UNSPECIFIED, &f), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_audio_format_for_encoding(PL_AUDIO_ENC_LINEAR_PCM, &f), PL_OK);
    ck_assert_int_eq(f, PL_AUDIO_FMT_RAW_S16LE);
    ck_assert_int_eq(pl_audio_format_for_encoding(PL_AUDIO_ENC_OGGOPUS, &f), PL_OK);
    ck_assert_int_eq(f, PL_AUDIO_FMT_OGG_OPUS);
    rm_tmpdir();
}
END_TEST

/* ---------------------------------------------------------------------------
 * Downmix
 */

START_TEST(test_downmix) {
    float st[] = {1.0f, 0.0f, 0.5f, -0.5f, -1.0f, -0.5f};
    float mono[3];
    pl_audio_downmix(st, 3, 2, mono);
    ck_assert_float_eq(mono[0], 0.5f);
    ck_assert_float_eq(mono[1], 0.0f);
    ck_assert_float_eq(mono[2], -0.75f);
    struct pl_audio *a = NULL;
    ck_assert_int_eq(pl_audio_create(100, 8, 16000, &a), PL_OK);
    for (size_t i = 0; i < 100; i++)
        for (int c = 0; c < 8; c++)
            a->samples[i * 8 + c] = (float)c * 0.125f - (float)i * 1e-3f;
    ck_assert_int_eq(pl_audio_to_mono(a), PL_OK);
    ck_assert_int_eq(a->channels, 1);
    for (size_t i = 0; i < 100; i++)
        ck_assert_float_eq_tol(a->samples[i], 0.4375f - (float)i * 1e-3f, 1e-6f);
    ck_assert_int_eq(pl_audio_to_mono(a), PL_OK); /* mono: no-op */
    ck_assert_float_eq_tol(a->samples[1], 0.4365f, 1e-6f);
    pl_audio_destroy(a);
    ck_assert_int_eq(pl_audio_to_mono(NULL), PL_E_INVALID_ARG);
    pl_audio_destroy(NULL);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Resampling
 */

/* Frequency of a tone from its positive-going zero crossings (interpolated),
 * skipping the first and last 10%. */
static double tone_freq(const float *x, size_t n, int rate) {
    double first = -1, last = -1;
    int count = 0;
    for (size_t i = n / 10; i + 1 < n - n / 10; i++) {
        if (x[i] < 0 && x[i + 1] >= 0) {
            double t = (double)i + (double)x[i] / ((double)x[i] - (double)x[i + 1]);
            if (first < 0)
                first = t;
            else
                count++;
            last = t;
        }
    }
    return count > 0 ? count * (double)rate / (last - first) : 0;
}

START_TEST(test_resample_vs_sox) {
    mk_tmpdir();
    static const int pairs[][2] = {{44100, 16000}, {48000, 16000}, {8000, 16000},  {22050, 16000},
                                   {16000, 48000}, {16000, 8000},  {48000, 22050}, {8000, 44100}};
    for (size_t p = 0; p < PL_ARRAY_LEN(pairs); p++) {
        int in_rate = pairs[p][0], out_rate = pairs[p][1];
        for (int ch = 1; ch <= 2; ch++) {
            const char *in = fname("in.f32");
            const char *out = fname("out.f32");
            /* a chirp within the band both rates can carry */
            int top = (in_rate < out_rate ? in_rate : out_rate) * 2 / 5;
            sh("sox -n -r %d -c %d -t f32 '%s' synth 0.5 sine 100-%d vol 0.5", in_rate, ch, in,
               top);
            sh("sox -t f32 -r %d -c %d '%s' -D -t f32 '%s' rate -h %d", in_rate, ch, in, out,
               out_rate);
            size_t n_in, n_ref;
            float *x = (float *)read_all(in, &n_in);
            float *ref = (float *)read_all(out, &n_ref);
            n_in /= 4;
            n_ref /= 4;
            struct pl_audio src = {x, n_in / ch, ch, in_rate};
            struct pl_audio *y = NULL;
            ck_assert_int_eq(pl_audio_resample(&src, out_rate, &y), PL_OK);
            ck_assert_int_eq(y->sample_rate, out_rate);
            size_t ny = y->n_frames * ch;
            ck_assert_msg(ny + 2 * ch >= n_ref && n_ref + 2 * ch >= ny,
                          "%d->%d: %zu vs sox %zu samples", in_rate, out_rate, ny, n_ref);
            /* compare away from the ends, where both pad with silence */
            size_t m = (ny < n_ref ? ny : n_ref) / ch, edge = m / 20;
            double s = snr_db(ref + edge * ch, y->samples + edge * ch, (m - 2 * edge) * ch);
            ck_assert_msg(s > 90.0, "%d->%d Hz %d ch: SNR vs sox %.1f dB", in_rate, out_rate, ch,
                          s);
            pl_audio_destroy(y);
            free(x);
            free(ref);
        }
        /* a pure 1 kHz tone keeps its frequency */
        size_t n = (size_t)in_rate / 2;
        float *t = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++)
            t[i] = 0.7f * (float)sin(2 * M_PI * 1000.0 * (double)i / in_rate + 0.3);
        struct pl_audio src = {t, n, 1, in_rate};
        struct pl_audio *y = NULL;
        ck_assert_int_eq(pl_audio_resample(&src, out_rate, &y), PL_OK);
        ck_assert_uint_eq(y->n_frames, (size_t)llround((double)n * out_rate / in_rate));
        double f = tone_freq(y->samples, y->n_frames, out_rate);
        ck_assert_msg(fabs(f - 1000.0) < 0.5, "%d->%d: tone at %.3f Hz", in_rate, out_rate, f);
        pl_audio_destroy(y);
        free(t);
    }
    rm_tmpdir();
}
END_TEST

START_TEST(test_resample_streaming) {
    static const int pairs[][2] = {{44100, 16000}, {8000, 16000}, {22050, 48000}, {16000, 16000}};
    unsigned seed = 12345;
    for (size_t p = 0; p < PL_ARRAY_LEN(pairs); p++) {
        int in_rate = pairs[p][0], out_rate = pairs[p][1], ch = 2;
        size_t n = (size_t)in_rate * 7 / 10;
        float *x = malloc(n * ch * sizeof(float));
        for (size_t i = 0; i < n * ch; i++)
            x[i] = 0.5f * (float)sin(0.013 * (double)i * (1 + (i & 1))) +
                   0.1f * (float)((rand_r(&seed) % 2001) - 1000) / 1000.0f;
        struct pl_audio src = {x, n, ch, in_rate};
        struct pl_audio *one = NULL;
        ck_assert_int_eq(pl_audio_resample(&src, out_rate, &one), PL_OK);

        struct pl_resampler *r = NULL;
        ck_assert_int_eq(pl_resampler_create(in_rate, out_rate, ch, &r), PL_OK);
        for (int round = 0; round < 2; round++) {
            float *acc = malloc((one->n_frames + 64) * ch * sizeof(float));
            size_t have = 0, fed = 0;
            while (fed < n) {
                size_t k = (size_t)(rand_r(&seed) % 3000); /* includes empty chunks */
                if (k > n - fed) k = n - fed;
                const float *o;
                size_t no;
                ck_assert_int_eq(pl_resampler_process(r, x + fed * ch, k, &o, &no), PL_OK);
                ck_assert_uint_le(have + no, one->n_frames + 64);
                memcpy(acc + have * ch, o, no * ch * sizeof(float));
                have += no;
                fed += k;
            }
            const float *o;
            size_t no;
            ck_assert_int_eq(pl_resampler_flush(r, &o, &no), PL_OK);
            ck_assert_uint_le(have + no, one->n_frames + 64);
            memcpy(acc + have * ch, o, no * ch * sizeof(float));
            have += no;
            ck_assert_msg(have + 1 >= one->n_frames && have <= one->n_frames + 1,
                          "%d->%d: stream %zu vs one-shot %zu frames", in_rate, out_rate, have,
                          one->n_frames);
            size_t m = have < one->n_frames ? have : one->n_frames;
            double d = max_abs_diff(acc, one->samples, m * ch);
            ck_assert_msg(d < 1e-5, "%d->%d: chunked differs by %g", in_rate, out_rate, d);
            /* after flush: only reset or destroy */
            ck_assert_int_eq(pl_resampler_process(r, x, 10, &o, &no), PL_E_INVALID_ARG);
            ck_assert_int_eq(pl_resampler_flush(r, &o, &no), PL_E_INVALID_ARG);
            ck_assert_int_eq(pl_resampler_reset(r), PL_OK); /* second round: same output */
            free(acc);
        }
        pl_resampler_destroy(r);
        pl_audio_destroy(one);
        free(x);
    }
    struct pl_resampler *r = NULL;
    ck_assert_int_eq(pl_resampler_create(7999 / 2, 16000, 1, &r), PL_E_INVALID_ARG);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(pl_resampler_create(16000, 400000, 1, &r), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_resampler_create(16000, 8000, 0, &r), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_resampler_create(16000, 8000, 9, &r), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_resampler_create(16000, 8000, 1, NULL), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_resampler_create(16000, 8000, 1, &r), PL_OK);
    const float *o;
    size_t no;
    ck_assert_int_eq(pl_resampler_process(r, NULL, 5, &o, &no), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_resampler_process(r, NULL, 0, &o, &no), PL_OK);
    ck_assert_uint_eq(no, 0);
    ck_assert(pl_resampler_delay(r) >= 0);
    pl_resampler_destroy(r);
    pl_resampler_destroy(NULL);
    ck_assert_int_eq(pl_resampler_reset(NULL), PL_E_INVALID_ARG);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Bad input
 */

START_TEST(test_errors) {
    struct pl_audio *a = (struct pl_audio *)0x1;
    uint8_t pcm[6] = {1, 2, 3, 4, 5, 6};
    struct pl_audio_decode_opts o = {PL_AUDIO_ENC_LINEAR_PCM, 16000, 1, 0};
    ck_assert_int_eq(pl_audio_decode(pcm, 0, &o, &a, NULL), PL_E_FORMAT);
    ck_assert_ptr_null(a);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "empty"));
    ck_assert_int_eq(pl_audio_decode(NULL, 0, NULL, &a, NULL), PL_E_FORMAT);
    ck_assert_int_eq(pl_audio_decode(NULL, 5, &o, &a, NULL), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_audio_decode(pcm, 6, &o, NULL, NULL), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_audio_decode(pcm, 5, &o, &a, NULL), PL_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "odd"));
    o.channels = 2;
    ck_assert_int_eq(pl_audio_decode(pcm, 6, &o, &a, NULL), PL_E_FORMAT); /* 1.5 frames */
    o.channels = 0;
    ck_assert_int_eq(pl_audio_decode(pcm, 6, &o, &a, NULL), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "channel"));
    o.channels = 9;
    ck_assert_int_eq(pl_audio_decode(pcm, 6, &o, &a, NULL), PL_E_INVALID_ARG);
    o.channels = 1;
    static const int bad_rates[] = {0, -16000, 7999, 48001, 96000};
    for (size_t i = 0; i < PL_ARRAY_LEN(bad_rates); i++) {
        o.sample_rate = bad_rates[i];
        ck_assert_int_eq(pl_audio_decode(pcm, 6, &o, &a, NULL), PL_E_INVALID_ARG);
        ck_assert_ptr_nonnull(strstr(pl_last_error(), "rate"));
    }
    o.sample_rate = 8000;
    ck_assert_int_eq(pl_audio_decode(pcm, 6, &o, &a, NULL), PL_OK);
    ck_assert_uint_eq(a->n_frames, 3);
    ck_assert_float_eq(a->samples[0], (float)0x0201 / 32768.0f);
    pl_audio_destroy(a);
    o.sample_rate = 48000;
    ck_assert_int_eq(pl_audio_decode(pcm, 6, &o, &a, NULL), PL_OK);
    pl_audio_destroy(a);
    o.encoding = (enum pl_audio_encoding)7;
    ck_assert_int_eq(pl_audio_decode(pcm, 6, &o, &a, NULL), PL_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "encoding"));
    o.encoding = PL_AUDIO_ENC_UNSPECIFIED;
    ck_assert_int_eq(pl_audio_decode(pcm, 6, &o, &a, NULL), PL_E_FORMAT);
    o.encoding = PL_AUDIO_ENC_FLAC;
    ck_assert_int_eq(pl_audio_decode(pcm, 6, &o, &a, NULL), PL_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(pl_last_error(), "fLaC"));
    o.encoding = PL_AUDIO_ENC_OGGOPUS;
    ck_assert_int_eq(pl_audio_decode(pcm, 6, &o, &a, NULL), PL_E_FORMAT);
    ck_assert_int_eq(pl_audio_decode_raw(pcm, 6, PL_AUDIO_ENC_FLAC, 16000, 1, &a),
                     PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_audio_decode_raw(pcm, 0, PL_AUDIO_ENC_MULAW, 16000, 1, &a), PL_OK);
    ck_assert_uint_eq(a->n_frames, 0);
    pl_audio_destroy(a);
    /* max_frames */
    struct pl_audio_decode_opts lim = {PL_AUDIO_ENC_MULAW, 8000, 1, 5};
    ck_assert_int_eq(pl_audio_decode(pcm, 6, &lim, &a, NULL), PL_E_EXHAUSTED);
    lim.max_frames = 6;
    ck_assert_int_eq(pl_audio_decode(pcm, 6, &lim, &a, NULL), PL_OK);
    pl_audio_destroy(a);
    /* files */
    ck_assert_int_eq(pl_audio_decode_file("/nonexistent/x.wav", NULL, &a, NULL), PL_E_IO);
    ck_assert_ptr_null(a);
    ck_assert_int_eq(pl_audio_decode_file(NULL, NULL, &a, NULL), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_audio_decode_file("/dev/null", NULL, &a, NULL), PL_E_FORMAT);
    /* create */
    ck_assert_int_eq(pl_audio_create(10, 0, 16000, &a), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_audio_create(10, 1, 100, &a), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_audio_create(SIZE_MAX / 2, 2, 16000, &a), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_audio_create(10, 1, 16000, NULL), PL_E_INVALID_ARG);
    ck_assert_str_eq(pl_audio_encoding_str(PL_AUDIO_ENC_ALAW), "ALAW");
    ck_assert_str_eq(pl_audio_encoding_str((enum pl_audio_encoding)55), "?");
    ck_assert_str_eq(pl_audio_container_str(PL_AUDIO_CONTAINER_WAV), "wav");
    /* pl_audio_decode_frames: raw layout, partial frame kept, bad layouts */
    struct pl_audio_info fi = {
        .encoding = PL_AUDIO_ENC_LINEAR_PCM, .sample_rate = 16000, .channels = 2};
    size_t used = 99;
    ck_assert_int_eq(pl_audio_decode_frames(pcm, 6, &fi, &a, &used), PL_OK);
    ck_assert_uint_eq(a->n_frames, 1);
    ck_assert_uint_eq(used, 4);
    ck_assert_float_eq(a->samples[1], (float)0x0403 / 32768.0f);
    pl_audio_destroy(a);
    ck_assert_int_eq(pl_audio_decode_frames(pcm, 3, &fi, &a, &used), PL_OK);
    ck_assert_uint_eq(a->n_frames, 0);
    ck_assert_uint_eq(used, 0);
    pl_audio_destroy(a);
    fi.channels = 0;
    ck_assert_int_eq(pl_audio_decode_frames(pcm, 6, &fi, &a, &used), PL_E_INVALID_ARG);
    ck_assert_ptr_null(a);
    fi.channels = 1;
    fi.encoding = PL_AUDIO_ENC_FLAC;
    ck_assert_int_eq(pl_audio_decode_frames(pcm, 6, &fi, &a, &used), PL_E_INVALID_ARG);
    fi.encoding = PL_AUDIO_ENC_LINEAR_PCM;
    fi.container = PL_AUDIO_CONTAINER_WAV;
    fi.bits = 12;
    ck_assert_int_eq(pl_audio_decode_frames(pcm, 6, &fi, &a, &used), PL_E_INVALID_ARG);
    fi.container = PL_AUDIO_CONTAINER_OGG_OPUS;
    ck_assert_int_eq(pl_audio_decode_frames(pcm, 6, &fi, &a, &used), PL_E_INVALID_ARG);
    fi.container = PL_AUDIO_CONTAINER_NONE;
    fi.sample_rate = 0;
    ck_assert_int_eq(pl_audio_decode_frames(pcm, 6, &fi, &a, &used), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_audio_decode_frames(pcm, 6, NULL, &a, &used), PL_E_INVALID_ARG);
    ck_assert_int_eq(pl_audio_decode_frames(pcm, 6, &fi, &a, NULL), PL_E_INVALID_ARG);
}
END_TEST

/* A small FLAC of a long silence: max_frames stops it, whatever the header. */
START_TEST(test_max_frames_container) {
    mk_tmpdir();
    sh("sox -D -n -r 48000 -c 2 -b 16 '%s' trim 0 10", fname("silence.flac"));
    size_t len;
    uint8_t *bytes = read_all(fname("silence.flac"), &len);
    ck_assert_uint_lt(len, 50000); /* 480 k frames from a few kB */
    struct pl_audio_decode_opts o = {.max_frames = 48000};
    struct pl_audio *a = NULL;
    ck_assert_int_eq(pl_audio_decode(bytes, len, &o, &a, NULL), PL_E_EXHAUSTED);
    ck_assert_ptr_null(a);
    o.max_frames = 10 * 48000;
    ck_assert_int_eq(pl_audio_decode(bytes, len, &o, &a, NULL), PL_OK);
    ck_assert_uint_eq(a->n_frames, 10 * 48000);
    pl_audio_destroy(a);
    free(bytes);
    rm_tmpdir();
}
END_TEST

/* tests/audio/gen_test_audio.sh (for other areas' tests) makes files we decode. */
START_TEST(test_gen_script) {
    const char *src = getenv("PARLEY_SOURCE_DIR");
    if (!src || !*src) {
        fprintf(stderr, "test_gen_script: PARLEY_SOURCE_DIR unset, skipped\n");
        return;
    }
    mk_tmpdir();
    sh("'%s/tests/audio/gen_test_audio.sh' '%s'", src, tmpdir);
    static const struct {
        const char *file;
        enum pl_audio_encoding enc;
        int rate, ch;
        enum pl_audio_container c;
    } want[] = {
        {"tone16k.wav", 0, 16000, 1, PL_AUDIO_CONTAINER_WAV},
        {"tone48k.wav", PL_AUDIO_ENC_LINEAR_PCM, 48000, 1, PL_AUDIO_CONTAINER_WAV},
        {"stereo44k.wav", 0, 44100, 2, PL_AUDIO_CONTAINER_WAV},
        {"tone16k.flac", PL_AUDIO_ENC_FLAC, 16000, 1, PL_AUDIO_CONTAINER_FLAC},
        {"tone8k.ulaw", PL_AUDIO_ENC_MULAW, 8000, 1, PL_AUDIO_CONTAINER_NONE},
        {"tone8k.alaw", PL_AUDIO_ENC_ALAW, 8000, 1, PL_AUDIO_CONTAINER_NONE},
        {"tone16k.s16", PL_AUDIO_ENC_LINEAR_PCM, 16000, 1, PL_AUDIO_CONTAINER_NONE},
        {"tone22k.ogg", 0, 22050, 1, PL_AUDIO_CONTAINER_OGG_VORBIS},
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(want); i++) {
        struct pl_audio_decode_opts o = {want[i].enc, want[i].rate, want[i].ch, 0};
        struct pl_audio *a = NULL;
        struct pl_audio_info info;
        ck_assert_msg(pl_audio_decode_file(fname(want[i].file), &o, &a, &info) == PL_OK, "%s: %s",
                      want[i].file, pl_last_error());
        ck_assert_int_eq(info.container, want[i].c);
        ck_assert_uint_eq(info.mismatch, 0);
        ck_assert_int_eq(a->sample_rate, want[i].rate);
        ck_assert_int_eq(a->channels, want[i].ch);
        ck_assert_uint_eq(a->n_frames, (size_t)want[i].rate); /* 1 s */
        /* first half is a 440 Hz tone */
        ck_assert_int_eq(pl_audio_to_mono(a), PL_OK);
        double f = tone_freq(a->samples, a->n_frames / 2, want[i].rate);
        ck_assert_msg(fabs(f - 440.0) < 1.0, "%s: tone at %.2f Hz", want[i].file, f);
        pl_audio_destroy(a);
    }
    rm_tmpdir();
}
END_TEST

/* Real files of each container, made by sox (and our Opus encoder). */
struct sample_file {
    const char *name;
    uint8_t *p;
    size_t n;
};

static void make_samples(struct sample_file *s, size_t *count) {
    static const struct {
        const char *name, *args;
    } mk[] = {{"a.wav", "-b 16"},
              {"b.wav", "-e mu-law"},
              {"c.wav", "-e floating-point -b 32"},
              {"d.flac", "-b 16"},
              {"e.ogg", "-C 0"}};
    size_t k = 0;
    for (size_t i = 0; i < PL_ARRAY_LEN(mk); i++, k++) {
        const char *path = fname(mk[i].name);
        sh("sox -n -r 8000 -c 2 %s '%s' synth 0.05 sine 300 sine 500", mk[i].args, path);
        s[k].name = mk[i].name;
        s[k].p = read_all(path, &s[k].n);
    }
    struct pl_audio *a = grid_signal(800, 2, 16000);
    uint8_t *bytes;
    size_t len;
    ck_assert_int_eq(pl_audio_encode(a, PL_AUDIO_FMT_OGG_OPUS, &bytes, &len), PL_OK);
    s[k].name = "f.opus";
    s[k].p = malloc(len);
    memcpy(s[k].p, bytes, len);
    s[k].n = len;
    k++;
    pl_free(bytes);
    pl_audio_destroy(a);
    *count = k;
}

static int allowed_status(pl_status st) {
    return st == PL_OK || st == PL_E_FORMAT || st == PL_E_INVALID_ARG || st == PL_E_EXHAUSTED;
}

START_TEST(test_truncations) {
    mk_tmpdir();
    struct sample_file s[8];
    size_t ns;
    make_samples(s, &ns);
    static const enum pl_audio_encoding encs[] = {PL_AUDIO_ENC_UNSPECIFIED,
                                                  PL_AUDIO_ENC_LINEAR_PCM};
    for (size_t i = 0; i < ns; i++) {
        size_t ok = 0, failed = 0;
        /* every length through the header region, then a stride to the end */
        for (size_t len = 0; len <= s[i].n; len = len == s[i].n ? len + 1
                                                  : len + 37 > s[i].n
                                                      ? s[i].n
                                                      : len + (len < 1200 ? 1 : 37)) {
            for (size_t e = 0; e < 2; e++) {
                struct pl_audio_decode_opts o = {encs[e], 8000, 2, 0};
                struct pl_audio *a = (struct pl_audio *)0x1;
                uint8_t *copy = malloc(len + 1); /* exact size: ASan sees over-reads */
                memcpy(copy, s[i].p, len);
                pl_status st = pl_audio_decode(len ? copy : NULL, len, &o, &a, NULL);
                ck_assert_msg(allowed_status(st), "%s truncated to %zu: %s", s[i].name, len,
                              pl_status_str(st));
                if (st == PL_OK) {
                    ck_assert_ptr_nonnull(a);
                    ck_assert_int_ge(a->channels, 1);
                    ok++;
                } else {
                    ck_assert_ptr_null(a);
                    ck_assert_str_ne(pl_last_error(), "");
                    failed++;
                }
                pl_audio_destroy(a);
                free(copy);
            }
        }
        ck_assert_msg(failed > 0 && ok > 0, "%s: %zu ok, %zu failed", s[i].name, ok, failed);
        /* the complete file decodes */
        struct pl_audio *a = NULL;
        ck_assert_msg(pl_audio_decode(s[i].p, s[i].n, NULL, &a, NULL) == PL_OK, "%s: %s", s[i].name,
                      pl_last_error());
        ck_assert_uint_gt(a->n_frames, 300);
        pl_audio_destroy(a);
        /* with encoding unspecified, a cut inside the magic is never accepted */
        for (size_t len = 0; len < 4; len++)
            ck_assert_int_eq(pl_audio_decode(s[i].p, len, NULL, &a, NULL), PL_E_FORMAT);
        free(s[i].p);
    }
    rm_tmpdir();
}
END_TEST

START_TEST(test_random_and_mutated) {
    mk_tmpdir();
    unsigned seed = 4242;
    static const struct {
        const char *m;
        size_t len;
    } magic[] = {{"", 0}, {"RIFF", 4}, {"fLaC", 4}, {"OggS", 4}, {"RIFF\x10\0\0\0WAVEfmt ", 16}};
    uint8_t buf[700];
    for (int it = 0; it < 3000; it++) {
        size_t n = (size_t)(rand_r(&seed) % sizeof buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)rand_r(&seed);
        size_t mi = (size_t)it % PL_ARRAY_LEN(magic);
        if (n >= magic[mi].len) memcpy(buf, magic[mi].m, magic[mi].len);
        static const int encs[] = {0, 1, 2, 3, 4, 20, 5, -1};
        struct pl_audio_decode_opts o = {(enum pl_audio_encoding)encs[rand_r(&seed) % 8],
                                         (int)(rand_r(&seed) % 50000), rand_r(&seed) % 10, 0};
        uint8_t *copy = malloc(n + 1);
        memcpy(copy, buf, n);
        struct pl_audio *a = NULL;
        pl_status st = pl_audio_decode(n ? copy : NULL, n, &o, &a, NULL);
        ck_assert_msg(allowed_status(st), "iteration %d (seed 4242): %s", it, pl_status_str(st));
        if (st == PL_OK) ck_assert_int_ge(a->channels, 1);
        pl_audio_destroy(a);
        struct pl_audio_info info;
        st = pl_audio_probe(copy, n, &info);
        ck_assert(st == PL_OK || st == PL_E_FORMAT);
        free(copy);
    }
    /* real files with random bytes flipped after the magic */
    struct sample_file s[8];
    size_t ns;
    make_samples(s, &ns);
    for (size_t i = 0; i < ns; i++) {
        for (int it = 0; it < 150; it++) {
            uint8_t *copy = malloc(s[i].n);
            memcpy(copy, s[i].p, s[i].n);
            int flips = 1 + rand_r(&seed) % 8;
            size_t span = s[i].n < 200 ? s[i].n : 200; /* mostly the headers */
            for (int f = 0; f < flips; f++) {
                size_t at = 4 + (size_t)rand_r(&seed) % (it % 2 ? span - 4 : s[i].n - 4);
                copy[at] = (uint8_t)rand_r(&seed);
            }
            struct pl_audio *a = NULL;
            pl_status st = pl_audio_decode(copy, s[i].n, NULL, &a, NULL);
            ck_assert_msg(allowed_status(st), "%s mutation %d: %s", s[i].name, it,
                          pl_status_str(st));
            pl_audio_destroy(a);
            free(copy);
        }
        free(s[i].p);
    }
    rm_tmpdir();
}
END_TEST

/* ---------------------------------------------------------------------------
 * Threads: decoders, encoders and resamplers used from several threads at
 * once give the same results as from one.
 */

struct thread_job {
    const struct pl_audio *sig;
    const uint8_t *enc[3]; /* WAV, FLAC, Opus bytes of sig */
    size_t enc_len[3];
    const struct pl_audio *ref[3]; /* their single-threaded decodes */
    int failures;
};

static void *thread_main(void *arg) {
    struct thread_job *j = arg;
    static const enum pl_audio_format fmts[3] = {PL_AUDIO_FMT_WAV, PL_AUDIO_FMT_FLAC,
                                                 PL_AUDIO_FMT_OGG_OPUS};
    for (int it = 0; it < 10; it++) {
        for (int k = 0; k < 3; k++) {
            struct pl_audio *a = NULL;
            if (pl_audio_decode(j->enc[k], j->enc_len[k], NULL, &a, NULL) != PL_OK ||
                a->n_frames != j->ref[k]->n_frames ||
                memcmp(a->samples, j->ref[k]->samples,
                       a->n_frames * (size_t)a->channels * sizeof(float)) != 0)
                j->failures++;
            pl_audio_destroy(a);
            uint8_t *b = NULL;
            size_t len = 0;
            if (pl_audio_encode(j->sig, fmts[k], &b, &len) != PL_OK || len != j->enc_len[k] ||
                (k < 2 && memcmp(b, j->enc[k], len) != 0))
                j->failures++;
            pl_free(b);
        }
        uint8_t junk[64] = "OggS";
        struct pl_audio *a = NULL;
        if (pl_audio_decode(junk, sizeof junk, NULL, &a, NULL) != PL_E_FORMAT) j->failures++;
        struct pl_audio *r = NULL;
        if (pl_audio_resample(j->sig, 8000, &r) != PL_OK || r->n_frames != 1000) j->failures++;
        pl_audio_destroy(r);
    }
    return NULL;
}

START_TEST(test_threads) {
    struct pl_audio *sig = grid_signal(2000, 2, 16000);
    struct thread_job base = {.sig = sig};
    static const enum pl_audio_format fmts[3] = {PL_AUDIO_FMT_WAV, PL_AUDIO_FMT_FLAC,
                                                 PL_AUDIO_FMT_OGG_OPUS};
    uint8_t *enc[3];
    struct pl_audio *ref[3];
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(pl_audio_encode(sig, fmts[k], &enc[k], &base.enc_len[k]), PL_OK);
        base.enc[k] = enc[k];
        ck_assert_int_eq(pl_audio_decode(enc[k], base.enc_len[k], NULL, &ref[k], NULL), PL_OK);
        base.ref[k] = ref[k];
    }
    struct thread_job jobs[4];
    pthread_t th[4];
    for (int t = 0; t < 4; t++) {
        jobs[t] = base;
        ck_assert_int_eq(pthread_create(&th[t], NULL, thread_main, &jobs[t]), 0);
    }
    for (int t = 0; t < 4; t++) {
        ck_assert_int_eq(pthread_join(th[t], NULL), 0);
        ck_assert_msg(jobs[t].failures == 0, "thread %d: %d failures", t, jobs[t].failures);
    }
    for (int k = 0; k < 3; k++) {
        pl_free(enc[k]);
        pl_audio_destroy(ref[k]);
    }
    pl_audio_destroy(sig);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Allocation failures: for k = 0, 1, 2, ... the k-th allocation fails; each
 * run must return PL_E_NOMEM and leave nothing allocated, until one succeeds.
 */

typedef pl_status (*op_fn)(void *ctx, void **result);
typedef void (*free_fn)(void *result);

static void oom_loop(const char *what, op_fn op, free_fn fr, void *ctx) {
    struct pl_alloc_stats before, after;
    int k;
    for (k = 0; k < 1000; k++) {
        pl_alloc_stats(&before);
        void *res = NULL;
        pl_alloc_fail_after(k);
        pl_status st = op(ctx, &res);
        pl_alloc_fail_after(-1);
        if (st == PL_OK) {
            ck_assert_ptr_nonnull(res);
            fr(res);
            pl_alloc_stats(&after);
            ck_assert_int_eq(after.bytes_in_use, before.bytes_in_use);
            break;
        }
        ck_assert_msg(st == PL_E_NOMEM, "%s, allocation %d failing: %s (%s)", what, k,
                      pl_status_str(st), pl_last_error());
        ck_assert_ptr_null(res);
        pl_alloc_stats(&after);
        ck_assert_msg(after.bytes_in_use == before.bytes_in_use &&
                          after.blocks_in_use == before.blocks_in_use,
                      "%s leaks after allocation %d fails", what, k);
    }
    ck_assert_msg(k > 0 && k < 1000, "%s: k=%d", what, k);
}

struct oom_ctx {
    const uint8_t *bytes;
    size_t n;
    struct pl_audio_decode_opts opts;
    struct pl_audio *audio;
    enum pl_audio_format fmt;
    const char *path;
    int out_rate;
};

static void free_audio(void *p) { pl_audio_destroy(p); }
static void free_bytes(void *p) { pl_free(p); }
static void free_resampler(void *p) { pl_resampler_destroy(p); }

static pl_status op_decode(void *c, void **res) {
    struct oom_ctx *x = c;
    return pl_audio_decode(x->bytes, x->n, &x->opts, (struct pl_audio **)res, NULL);
}
static pl_status op_decode_file(void *c, void **res) {
    struct oom_ctx *x = c;
    return pl_audio_decode_file(x->path, NULL, (struct pl_audio **)res, NULL);
}
static pl_status op_frames(void *c, void **res) {
    struct oom_ctx *x = c;
    struct pl_audio_info fi;
    size_t used;
    PL_TRY(pl_audio_probe(x->bytes, x->n, &fi));
    return pl_audio_decode_frames(x->bytes + fi.data_offset, x->n - fi.data_offset, &fi,
                                  (struct pl_audio **)res, &used);
}
static pl_status op_create(void *c, void **res) {
    PL_UNUSED(c);
    return pl_audio_create(1000, 2, 16000, (struct pl_audio **)res);
}
static pl_status op_encode(void *c, void **res) {
    struct oom_ctx *x = c;
    size_t len;
    return pl_audio_encode(x->audio, x->fmt, (uint8_t **)res, &len);
}
static pl_status op_resample(void *c, void **res) {
    struct oom_ctx *x = c;
    return pl_audio_resample(x->audio, x->out_rate, (struct pl_audio **)res);
}
static pl_status op_stream(void *c, void **res) {
    struct oom_ctx *x = c;
    struct pl_resampler *r = NULL;
    PL_TRY(pl_resampler_create(x->audio->sample_rate, x->out_rate, x->audio->channels, &r));
    const float *o;
    size_t no;
    pl_status st;
    for (size_t off = 0; off < x->audio->n_frames; off += 500) {
        size_t k = x->audio->n_frames - off < 500 ? x->audio->n_frames - off : 500;
        st = pl_resampler_process(r, x->audio->samples + off * x->audio->channels, k, &o, &no);
        if (st != PL_OK) goto fail;
    }
    st = pl_resampler_flush(r, &o, &no);
    if (st != PL_OK) goto fail;
    *res = r;
    return PL_OK;
fail:
    pl_resampler_destroy(r);
    return st;
}

START_TEST(test_oom) {
    mk_tmpdir();
    oom_loop("pl_audio_create", op_create, free_audio, NULL);
    struct pl_audio *sig = grid_signal(4000, 2, 16000);
    static const enum pl_audio_format fmts[] = {PL_AUDIO_FMT_RAW_S16LE, PL_AUDIO_FMT_WAV,
                                                PL_AUDIO_FMT_FLAC,      PL_AUDIO_FMT_OGG_OPUS,
                                                PL_AUDIO_FMT_MULAW,     PL_AUDIO_FMT_ALAW};
    static const enum pl_audio_encoding encs[] = {
        PL_AUDIO_ENC_LINEAR_PCM, 0, 0, 0, PL_AUDIO_ENC_MULAW, PL_AUDIO_ENC_ALAW};
    for (size_t i = 0; i < PL_ARRAY_LEN(fmts); i++) {
        struct oom_ctx x = {.audio = sig, .fmt = fmts[i]};
        oom_loop("pl_audio_encode", op_encode, free_bytes, &x);
        uint8_t *bytes;
        size_t len;
        ck_assert_int_eq(pl_audio_encode(sig, fmts[i], &bytes, &len), PL_OK);
        x.bytes = bytes;
        x.n = len;
        x.opts = (struct pl_audio_decode_opts){encs[i], 16000, 2, 0};
        oom_loop("pl_audio_decode", op_decode, free_audio, &x);
        if (i == 1) {
            x.path = fname("oom.wav");
            write_all(x.path, bytes, len);
            oom_loop("pl_audio_decode_file", op_decode_file, free_audio, &x);
            oom_loop("pl_audio_decode_frames", op_frames, free_audio, &x);
        }
        pl_free(bytes);
    }
    /* a long FLAC makes the decoder grow its buffer several times */
    sh("sox -n -r 48000 -c 2 -b 16 '%s' synth 2 sine 440", fname("long.flac"));
    struct oom_ctx lf = {.opts = {0}};
    size_t len;
    uint8_t *flac = read_all(fname("long.flac"), &len);
    lf.bytes = flac;
    lf.n = len;
    oom_loop("pl_audio_decode(long flac)", op_decode, free_audio, &lf);
    free(flac);
    struct oom_ctx rs = {.audio = sig, .out_rate = 44100};
    oom_loop("pl_audio_resample", op_resample, free_audio, &rs);
    oom_loop("pl_resampler stream", op_stream, free_resampler, &rs);
    rs.out_rate = 16000;
    oom_loop("pl_audio_resample(same rate)", op_resample, free_audio, &rs);
    pl_audio_destroy(sig);
    rm_tmpdir();
}
END_TEST

Suite *pl_audio_suite(void) {
    Suite *s = suite_create("audio");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, root_setup, root_teardown);
    tcase_add_test(tc, test_sniff_table);
    tcase_add_test(tc, test_decode_containers_vs_sox);
    tcase_add_test(tc, test_decode_raw_vs_sox);
    tcase_add_test(tc, test_g711_vs_sox);
    tcase_add_test(tc, test_opus);
    tcase_add_test(tc, test_encode_roundtrip);
    tcase_add_test(tc, test_downmix);
    tcase_add_test(tc, test_resample_vs_sox);
    tcase_add_test(tc, test_resample_streaming);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_max_frames_container);
    tcase_add_test(tc, test_gen_script);
    tcase_add_test(tc, test_truncations);
    tcase_add_test(tc, test_random_and_mutated);
    tcase_add_test(tc, test_threads);
    tcase_add_test(tc, test_oom);
    suite_add_tcase(s, tc);
    return s;
}
