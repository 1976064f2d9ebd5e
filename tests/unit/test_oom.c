/*
 * test_oom.c - the out-of-memory loop over every constructor in common/.
 *
 * Like curl's torture tests and SQLite's faultsim: run an operation with the
 * k-th allocation failing, for k = 0, 1, 2, ... until it succeeds. Every
 * failing run must report out of memory (PL_E_NOMEM or NULL) and leave the
 * live byte and block counts of pl_alloc_stats exactly where they were; the
 * final run must produce the right result. Under ASan the same loop also
 * proves that the libraries behind common/ (jansson, libsndfile, libsoxr)
 * are released on every error path.
 *
 * The audio part compiles when common/audio.h is in the tree.
 */
#include <check.h>
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "config.h"
#include "log.h"
#include "strbuf.h"

/* The audio part compiles when common/audio.h is in the tree (audio.c,
 * audio_resample.c and audio_encode.c come with it). */
#if defined(__has_include)
#if __has_include("audio.h")
#define HAVE_AUDIO 1
#include "audio.h"
#endif
#endif

/* Enough for any constructor here; a loop that gets this far is a bug. */
#define MAX_K 20000

/*
 * One operation under test. run() performs it and returns PL_OK or the
 * failure; on PL_OK, check() verifies the result and frees it.
 */
struct oom_case {
    const char *name;
    pl_status (*run)(void *ctx);
    void (*check)(void *ctx);
    void *ctx;
};

/* Returns how many allocations the successful run made (the k at success). */
static int oom_loop(const struct oom_case *c) {
    struct pl_alloc_stats a, b;
    int k;
    for (k = 0; k < MAX_K; k++) {
        pl_alloc_stats(&a);
        pl_alloc_fail_after(k);
        pl_status st = c->run(c->ctx);
        pl_alloc_fail_after(-1);
        pl_alloc_stats(&b);
        if (st == PL_OK) {
            ck_assert_msg(b.failed_allocs == a.failed_allocs,
                          "%s: k=%d succeeded although an allocation failed", c->name, k);
            c->check(c->ctx);
            pl_alloc_stats(&b);
            ck_assert_msg(b.bytes_in_use == a.bytes_in_use && b.blocks_in_use == a.blocks_in_use,
                          "%s: success leaks %lld bytes", c->name,
                          (long long)(b.bytes_in_use - a.bytes_in_use));
            if (getenv("PL_OOM_VERBOSE"))
                fprintf(stderr, "oom: %s: %d allocations, each failure handled\n", c->name, k);
            return k;
        }
        ck_assert_msg(st == PL_E_NOMEM, "%s: k=%d: %s instead of PL_E_NOMEM: %s", c->name, k,
                      pl_status_str(st), pl_last_error());
        ck_assert_msg(b.failed_allocs > a.failed_allocs, "%s: k=%d: NOMEM without a failure",
                      c->name, k);
        ck_assert_msg(b.bytes_in_use == a.bytes_in_use && b.blocks_in_use == a.blocks_in_use,
                      "%s: k=%d: %lld bytes in %lld blocks leaked", c->name, k,
                      (long long)(b.bytes_in_use - a.bytes_in_use),
                      (long long)(b.blocks_in_use - a.blocks_in_use));
    }
    ck_abort_msg("%s: still failing after %d allocations", c->name, MAX_K);
    return -1;
}

/* ---- config -------------------------------------------------------------- */

struct cfg {
    char *name;
    int64_t n;
    double x;
    bool flag;
    char *req;
};

static const struct pl_config_field cfg_fields[] = {
    {"svc", "name", PL_CONFIG_STRING, offsetof(struct cfg, name), "default-name", 0, 0, "a name"},
    {"svc", "n", PL_CONFIG_INT, offsetof(struct cfg, n), "5", 0, 100, "a count"},
    {"svc", "x", PL_CONFIG_DOUBLE, offsetof(struct cfg, x), "0.5", 0, 1, "a ratio"},
    {"svc", "flag", PL_CONFIG_BOOL, offsetof(struct cfg, flag), "false", 0, 0, "a switch"},
    {"svc", "req", PL_CONFIG_STRING, offsetof(struct cfg, req), NULL, 0, 0, "required"},
};

struct cfg_ctx {
    const char *path; /* NULL: load from text */
    const char *text;
    struct cfg c;
};

static pl_status cfg_run(void *p) {
    struct cfg_ctx *x = p;
    memset(&x->c, 0x5A, sizeof x->c);
    pl_status st = x->path ? pl_config_load(cfg_fields, 5, x->path, &x->c)
                           : pl_config_load_string(cfg_fields, 5, x->text, "oom.json", &x->c);
    if (st != PL_OK) {
        ck_assert_ptr_null(x->c.name);
        ck_assert_ptr_null(x->c.req);
    }
    return st;
}

static void cfg_check(void *p) {
    struct cfg_ctx *x = p;
    ck_assert_str_eq(x->c.name, "from-env");
    ck_assert_int_eq(x->c.n, 42);
    ck_assert_double_eq(x->c.x, 0.25);
    ck_assert(x->c.flag);
    ck_assert_str_eq(x->c.req, "required value");
    pl_config_deinit(cfg_fields, 5, &x->c);
}

static const char cfg_json[] =
    "{\"svc\": {\"name\": \"file-name\", \"n\": 42, \"x\": 0.25, \"flag\": true,"
    " \"req\": \"required value\"},"
    " \"unrelated\": {\"list\": [1, 2.5, \"three\", {\"four\": null}], \"s\": \"xxxxxxxxxxxx\"}}";

START_TEST(test_config_string) {
    setenv("PARLEY_SVC_NAME", "from-env", 1);
    struct cfg_ctx x = {NULL, cfg_json, {0}};
    struct oom_case c = {"pl_config_load_string", cfg_run, cfg_check, &x};
    ck_assert_int_gt(oom_loop(&c), 5);
}
END_TEST

START_TEST(test_config_file) {
    char path[256];
    const char *dir = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/pl_oom_XXXXXX", dir ? dir : "/tmp");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, cfg_json, strlen(cfg_json)), (ssize_t)strlen(cfg_json));
    close(fd);
    setenv("PARLEY_SVC_NAME", "from-env", 1);
    struct cfg_ctx x = {path, NULL, {0}};
    struct oom_case c = {"pl_config_load", cfg_run, cfg_check, &x};
    int k = oom_loop(&c);
    unlink(path);
    ck_assert_int_gt(k, 5);
}
END_TEST

static char *describe_out;
static pl_status describe_run(void *p) {
    describe_out = pl_config_describe(cfg_fields, 5);
    (void)p;
    return describe_out ? PL_OK : PL_E_NOMEM;
}
static void describe_check(void *p) {
    (void)p;
    ck_assert_ptr_nonnull(strstr(describe_out, "svc.req"));
    ck_assert_ptr_nonnull(strstr(describe_out, "(required)"));
    pl_free(describe_out);
}

START_TEST(test_config_describe) {
    struct oom_case c = {"pl_config_describe", describe_run, describe_check, NULL};
    ck_assert_int_ge(oom_loop(&c), 1);
}
END_TEST

/* ---- strbuf and alloc ---------------------------------------------------- */

static char *strbuf_out;
static pl_status strbuf_run(void *p) {
    struct pl_strbuf sb;
    (void)p;
    pl_strbuf_init(&sb);
    for (int i = 0; i < 300; i++) pl_strbuf_appendf(&sb, "item %d, ", i);
    pl_strbuf_append_json(&sb, "quote\" and \\ and \n");
    pl_strbuf_append_char(&sb, '!');
    pl_status st = pl_strbuf_status(&sb);
    strbuf_out = pl_strbuf_detach(&sb);
    pl_strbuf_deinit(&sb);
    if (st != PL_OK) {
        ck_assert_ptr_null(strbuf_out);
        return st;
    }
    ck_assert_ptr_nonnull(strbuf_out);
    return PL_OK;
}
static void strbuf_check(void *p) {
    (void)p;
    ck_assert_ptr_nonnull(strstr(strbuf_out, "item 299, \"quote\\\" and \\\\ and \\n\"!"));
    ck_assert_int_eq(strncmp(strbuf_out, "item 0, item 1, ", 16), 0);
    pl_free(strbuf_out);
}

START_TEST(test_strbuf) {
    struct oom_case c = {"pl_strbuf", strbuf_run, strbuf_check, NULL};
    ck_assert_int_ge(oom_loop(&c), 3); /* it grows several times */
}
END_TEST

static void *alloc_out[4];
static pl_status alloc_run(void *p) {
    (void)p;
    memset(alloc_out, 0, sizeof alloc_out);
    alloc_out[0] = pl_strdup("abc");
    alloc_out[1] = pl_strndup("abcdef", 2);
    alloc_out[2] = pl_calloc(10, 8);
    alloc_out[3] = pl_aligned_alloc(64, 100);
    bool ok = alloc_out[0] && alloc_out[1] && alloc_out[2] && alloc_out[3];
    if (!ok) {
        pl_free(alloc_out[0]);
        pl_free(alloc_out[1]);
        pl_free(alloc_out[2]);
        pl_aligned_free(alloc_out[3]);
    }
    return ok ? PL_OK : PL_E_NOMEM;
}
static void alloc_check(void *p) {
    (void)p;
    ck_assert_str_eq(alloc_out[0], "abc");
    ck_assert_str_eq(alloc_out[1], "ab");
    ck_assert_int_eq(((char *)alloc_out[2])[79], 0);
    ck_assert_int_eq((uintptr_t)alloc_out[3] % 64, 0);
    pl_free(alloc_out[0]);
    pl_free(alloc_out[1]);
    pl_free(alloc_out[2]);
    pl_aligned_free(alloc_out[3]);
}

START_TEST(test_alloc_helpers) {
    struct oom_case c = {"pl_strdup/calloc/aligned", alloc_run, alloc_check, NULL};
    ck_assert_int_eq(oom_loop(&c), 4);
}
END_TEST

/* A realloc that fails keeps the old block valid and accounted. */
START_TEST(test_realloc_keeps_block) {
    struct pl_alloc_stats a, b;
    char *p = pl_malloc(16);
    memcpy(p, "0123456789abcde", 16);
    pl_alloc_stats(&a);
    pl_alloc_fail_after(0);
    ck_assert_ptr_null(pl_realloc(p, 1 << 20));
    pl_alloc_fail_after(-1);
    pl_alloc_stats(&b);
    ck_assert_int_eq(a.bytes_in_use, b.bytes_in_use);
    ck_assert_str_eq(p, "0123456789abcde");
    pl_free(p);
}
END_TEST

/* ---- log line formatting ------------------------------------------------- */

/* The default hook formats the JSON line in a strbuf: out of memory loses
 * the line (and says so on stderr) but never crashes or leaks. */
static int log_fd = -1;
static pl_status log_run(void *p) {
    (void)p;
    ck_assert_int_eq(ftruncate(log_fd, 0), 0);
    lseek(log_fd, 0, SEEK_SET);
    PL_LOGI("message number %d with a \"quote\"", 7);
    fflush(stderr);
    char buf[2048] = {0};
    lseek(log_fd, 0, SEEK_SET);
    ssize_t n = read(log_fd, buf, sizeof buf - 1);
    ck_assert_int_gt(n, 0);
    if (strstr(buf, "(log line lost: out of memory)")) return PL_E_NOMEM;
    ck_assert_ptr_nonnull(strstr(buf, "\"msg\":\"message number 7 with a \\\"quote\\\"\""));
    ck_assert_ptr_nonnull(strstr(buf, "\"request_id\":\"req-1\""));
    ck_assert_int_eq(buf[n - 1], '\n');
    return PL_OK;
}
static void log_check(void *p) { (void)p; }

START_TEST(test_log_line) {
    char path[256];
    const char *dir = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/pl_oom_log_XXXXXX", dir ? dir : "/tmp");
    log_fd = mkstemp(path);
    ck_assert_int_ge(log_fd, 0);
    unlink(path);
    int saved = dup(2);
    fflush(stderr);
    dup2(log_fd, 2);
    pl_log_set(NULL, NULL);
    pl_log_set_level(PL_LOG_INFO);
    pl_log_set_service("oom");
    pl_log_set_request_id("req-1");
    struct oom_case c = {"log line", log_run, log_check, NULL};
    int k = oom_loop(&c);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(log_fd);
    ck_assert_int_ge(k, 1);
}
END_TEST

/* ---- audio --------------------------------------------------------------- */
#ifdef HAVE_AUDIO

#define SR 16000
#define N_FRAMES 1600

/* A 440 Hz stereo tone, the input of every audio case. */
static struct pl_audio tone;
static float tone_samples[N_FRAMES * 2];
static void make_tone(void) {
    for (int i = 0; i < N_FRAMES; i++) {
        float v = 0.5f * sinf(2.0f * 3.14159265f * 440.0f * (float)i / SR);
        tone_samples[2 * i] = v;
        tone_samples[2 * i + 1] = -v;
    }
    tone = (struct pl_audio){tone_samples, N_FRAMES, 2, SR};
}

struct audio_ctx {
    /* inputs */
    enum pl_audio_format fmt;
    const uint8_t *bytes;
    size_t n_bytes;
    enum pl_audio_encoding enc;
    int rate, channels;
    /* outputs */
    struct pl_audio *out;
    uint8_t *enc_out;
    size_t enc_len;
};

static pl_status create_run(void *p) {
    struct audio_ctx *x = p;
    pl_status st = pl_audio_create(N_FRAMES, 2, SR, &x->out);
    if (st != PL_OK) ck_assert_ptr_null(x->out);
    return st;
}
static void audio_out_check(void *p) {
    struct audio_ctx *x = p;
    ck_assert_ptr_nonnull(x->out);
    ck_assert_int_gt(x->out->n_frames, 0);
    pl_audio_destroy(x->out);
    x->out = NULL;
}

START_TEST(test_audio_create) {
    struct audio_ctx x = {0};
    struct oom_case c = {"pl_audio_create", create_run, audio_out_check, &x};
    ck_assert_int_ge(oom_loop(&c), 1);
}
END_TEST

static pl_status encode_run(void *p) {
    struct audio_ctx *x = p;
    pl_status st = pl_audio_encode(&tone, x->fmt, &x->enc_out, &x->enc_len);
    if (st != PL_OK) ck_assert_ptr_null(x->enc_out);
    return st;
}
static void encode_check(void *p) {
    struct audio_ctx *x = p;
    ck_assert_ptr_nonnull(x->enc_out);
    ck_assert_uint_gt(x->enc_len, 0);
    pl_free(x->enc_out);
    x->enc_out = NULL;
}

static pl_status decode_run(void *p) {
    struct audio_ctx *x = p;
    struct pl_audio_decode_opts o = {x->enc, x->rate, x->channels, 0};
    pl_status st = pl_audio_decode(x->bytes, x->n_bytes, &o, &x->out, NULL);
    if (st != PL_OK) ck_assert_ptr_null(x->out);
    return st;
}
static void decode_check(void *p) {
    struct audio_ctx *x = p;
    ck_assert_ptr_nonnull(x->out);
    ck_assert_int_eq(x->out->channels, 2);
    ck_assert_int_eq(x->out->sample_rate, SR);
    ck_assert_uint_ge(x->out->n_frames, N_FRAMES);
    pl_audio_destroy(x->out);
    x->out = NULL;
}

/* Encode the tone in every format, then decode each result, both under the
 * OOM loop. */
START_TEST(test_audio_encode_decode) {
    static const struct {
        enum pl_audio_format fmt;
        enum pl_audio_encoding enc; /* for decoding the headerless ones */
        const char *name;
    } fmts[] = {
        {PL_AUDIO_FMT_RAW_S16LE, PL_AUDIO_ENC_LINEAR_PCM, "s16le"},
        {PL_AUDIO_FMT_WAV, PL_AUDIO_ENC_UNSPECIFIED, "wav"},
        {PL_AUDIO_FMT_FLAC, PL_AUDIO_ENC_UNSPECIFIED, "flac"},
        {PL_AUDIO_FMT_OGG_OPUS, PL_AUDIO_ENC_UNSPECIFIED, "ogg-opus"},
        {PL_AUDIO_FMT_MULAW, PL_AUDIO_ENC_MULAW, "mulaw"},
        {PL_AUDIO_FMT_ALAW, PL_AUDIO_ENC_ALAW, "alaw"},
    };
    make_tone();
    for (size_t i = 0; i < PL_ARRAY_LEN(fmts); i++) {
        struct audio_ctx x = {0};
        char name[64];
        x.fmt = fmts[i].fmt;
        snprintf(name, sizeof name, "pl_audio_encode(%s)", fmts[i].name);
        struct oom_case c = {name, encode_run, encode_check, &x};
        oom_loop(&c);

        /* an encoding to decode, made without faults */
        uint8_t *bytes;
        size_t n;
        ck_assert_int_eq(pl_audio_encode(&tone, fmts[i].fmt, &bytes, &n), PL_OK);
        struct audio_ctx d = {0};
        d.bytes = bytes;
        d.n_bytes = n;
        d.enc = fmts[i].enc;
        if (fmts[i].enc != PL_AUDIO_ENC_UNSPECIFIED) {
            d.rate = SR;
            d.channels = 2;
        }
        snprintf(name, sizeof name, "pl_audio_decode(%s)", fmts[i].name);
        struct oom_case dc = {name, decode_run, decode_check, &d};
        ck_assert_int_ge(oom_loop(&dc), 1);
        pl_free(bytes);
    }
}
END_TEST

static void put_le(uint8_t *p, uint32_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Decoding needs no encoder: raw s16/mu-law/A-law bytes and a hand-made
 * 16-bit stereo WAV (44-byte header) go through the OOM loop. */
START_TEST(test_audio_decode_handmade) {
    static uint8_t wav[44 + N_FRAMES * 4];
    uint8_t *d = wav + 44;
    for (int i = 0; i < N_FRAMES * 2; i++)
        put_le(d + 2 * i, (uint16_t)(int16_t)((i * 37) % 20000 - 10000), 2);
    memcpy(wav, "RIFF", 4);
    put_le(wav + 4, 36 + N_FRAMES * 4, 4);
    memcpy(wav + 8, "WAVEfmt ", 8);
    put_le(wav + 16, 16, 4);
    put_le(wav + 20, 1, 2); /* PCM */
    put_le(wav + 22, 2, 2);
    put_le(wav + 24, SR, 4);
    put_le(wav + 28, SR * 4, 4);
    put_le(wav + 32, 4, 2);
    put_le(wav + 34, 16, 2);
    memcpy(wav + 36, "data", 4);
    put_le(wav + 40, N_FRAMES * 4, 4);

    struct audio_ctx w = {.bytes = wav, .n_bytes = sizeof wav};
    struct oom_case cw = {"pl_audio_decode(handmade wav)", decode_run, decode_check, &w};
    ck_assert_int_ge(oom_loop(&cw), 1);

    struct audio_ctx r = {.bytes = d, .n_bytes = N_FRAMES * 4, .enc = PL_AUDIO_ENC_LINEAR_PCM,
                          .rate = SR, .channels = 2};
    struct oom_case cr = {"pl_audio_decode(raw s16)", decode_run, decode_check, &r};
    ck_assert_int_ge(oom_loop(&cr), 1);

    struct audio_ctx m = {.bytes = d, .n_bytes = N_FRAMES * 2, .enc = PL_AUDIO_ENC_MULAW,
                          .rate = SR, .channels = 2};
    struct oom_case cm = {"pl_audio_decode(raw mulaw)", decode_run, decode_check, &m};
    ck_assert_int_ge(oom_loop(&cm), 1);
    m.enc = PL_AUDIO_ENC_ALAW;
    struct oom_case ca = {"pl_audio_decode(raw alaw)", decode_run, decode_check, &m};
    ck_assert_int_ge(oom_loop(&ca), 1);
}
END_TEST

static pl_status resample_run(void *p) {
    struct audio_ctx *x = p;
    pl_status st = pl_audio_resample(&tone, x->rate, &x->out);
    if (st != PL_OK) ck_assert_ptr_null(x->out);
    return st;
}
static void resample_check(void *p) {
    struct audio_ctx *x = p;
    ck_assert_ptr_nonnull(x->out);
    ck_assert_int_eq(x->out->sample_rate, x->rate);
    ck_assert_uint_eq(x->out->n_frames, (size_t)N_FRAMES * x->rate / SR);
    pl_audio_destroy(x->out);
    x->out = NULL;
}

START_TEST(test_audio_resample) {
    make_tone();
    int rates[] = {8000, 16000, 22050, 48000};
    for (size_t i = 0; i < PL_ARRAY_LEN(rates); i++) {
        struct audio_ctx x = {0};
        x.rate = rates[i];
        struct oom_case c = {"pl_audio_resample", resample_run, resample_check, &x};
        ck_assert_int_ge(oom_loop(&c), 1);
    }
}
END_TEST

/* A whole stream: create, feed in chunks, flush. Any step may fail. */
static size_t stream_frames;
static pl_status stream_run(void *p) {
    struct pl_resampler *r = NULL;
    const float *o;
    size_t n;
    pl_status st;
    (void)p;
    stream_frames = 0;
    st = pl_resampler_create(SR, 8000, 2, &r);
    if (st != PL_OK) {
        ck_assert_ptr_null(r);
        return st;
    }
    for (size_t off = 0; off < N_FRAMES; off += 400) {
        st = pl_resampler_process(r, tone_samples + 2 * off, 400, &o, &n);
        if (st != PL_OK) goto done;
        stream_frames += n;
    }
    st = pl_resampler_flush(r, &o, &n);
    if (st == PL_OK) stream_frames += n;
done:
    pl_resampler_destroy(r);
    return st;
}
static void stream_check(void *p) {
    (void)p;
    ck_assert_uint_eq(stream_frames, N_FRAMES / 2);
}

START_TEST(test_audio_resampler_stream) {
    make_tone();
    struct oom_case c = {"pl_resampler stream", stream_run, stream_check, NULL};
    ck_assert_int_ge(oom_loop(&c), 1);
}
END_TEST
#endif /* HAVE_AUDIO */

Suite *pl_oom_suite(void) {
    Suite *s = suite_create("oom");
    TCase *tc = tcase_create("common");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_config_string);
    tcase_add_test(tc, test_config_file);
    tcase_add_test(tc, test_config_describe);
    tcase_add_test(tc, test_strbuf);
    tcase_add_test(tc, test_alloc_helpers);
    tcase_add_test(tc, test_realloc_keeps_block);
    tcase_add_test(tc, test_log_line);
#ifdef HAVE_AUDIO
    tcase_add_test(tc, test_audio_create);
    tcase_add_test(tc, test_audio_decode_handmade);
    tcase_add_test(tc, test_audio_encode_decode);
    tcase_add_test(tc, test_audio_resample);
    tcase_add_test(tc, test_audio_resampler_stream);
#endif
    suite_add_tcase(s, tc);
    return s;
}
