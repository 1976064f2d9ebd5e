/*
 * parley-tts - the speech-synthesis worker: Riva Synthesize, SynthesizeOnline and
 * GetRivaSynthesisConfig served over NATS (queue group "tts").
 *
 *   parley-tts [--config FILE] [--nats URL] [--http-port N] [--model-dir DIR]
 *              [--voices DIR[,DIR...]]   (also --voice DIR)
 *
 * Settings: section "tts" of FILE (default $PARLEY_CONFIG, else config/parley.json when it
 * exists), then PARLEY_TTS_* environment variables, then these flags. A relative voice, G2P or
 * lexicon path is used as given when it exists there, else taken under model_dir. Prints one line "parley-tts http_port=N voices=K
 * names=a,b" on stdout once it serves. SIGTERM/SIGINT drain and stop.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "config.h"
#include "log.h"
#include "nrpc_worker.h"
#include "service.h"
#include "strbuf.h"
#include "tts.h"

struct tts_cfg {
    char *nats_url;
    int64_t http_port;
    char *http_host;
    char *model_dir;
    char *voices;
    char *lexicon;
    char *user_dictionary;
    char *g2p;
    char *backend;
    int64_t threads;
    int64_t handler_threads;
    int64_t max_words;
    int64_t chunk_frames;
    int64_t max_text_bytes;
    int64_t max_stream_text_bytes;
    char *log_level;
};

#define F(key, type, field, def, lo, hi, help)                                                     \
    {"tts", key, type, offsetof(struct tts_cfg, field), def, lo, hi, help}
static const struct pl_config_field tts_fields[] = {
    PL_SERVICE_SIDE_FIELDS("tts", struct tts_cfg),
    F("model_dir", PL_CONFIG_STRING, model_dir, "models", 1, 0, "model repository; relative voice, g2p and lexicon paths are under it"),
    F("voices", PL_CONFIG_STRING, voices, "tts-voice", 1, 0, "comma-separated voice directories; the first is the default voice"),
    F("lexicon", PL_CONFIG_STRING, lexicon, "", 1, 0, "CMU pronouncing dictionary; empty: <model_dir>/tts-lexicon/cmudict.dict, else $PARLEY_DATA_DIR/lexicon/cmudict.dict; none: no lexicon"),
    F("user_dictionary", PL_CONFIG_STRING, user_dictionary, "", 1, 0, "server-side pronunciations, lines 'grapheme  PH PH ...' (two spaces); empty: none"),
    F("g2p", PL_CONFIG_STRING, g2p, "tts-g2p/g2p.bin", 1, 0, "G2P model for words outside the lexicons; none: no G2P"),
    F("backend", PL_CONFIG_STRING, backend, "cpu", 1, 0, "engine backend of the voices (cpu, cuda)"),
    F("threads", PL_CONFIG_INT, threads, "1", 0, 256, "CPU threads per synthesis (0 = 1)"),
    F("handler_threads", PL_CONFIG_INT, handler_threads, "8", 1, 1024, "request threads: syntheses (and streams speaking) at once"),
    F("max_words", PL_CONFIG_INT, max_words, "50", 1, 1000, "words per sentence before a long one is cut at a phrase break"),
    F("chunk_frames", PL_CONFIG_INT, chunk_frames, "0", 0, 100000, "mel frames per vocoder block (0: the voice's default)"),
    F("max_text_bytes", PL_CONFIG_INT, max_text_bytes, "8192", 1, 16777216, "longest Synthesize text (its audio comes back in one message); RESOURCE_EXHAUSTED past it"),
    F("max_stream_text_bytes", PL_CONFIG_INT, max_stream_text_bytes, "1048576", 1, 16777216, "longest text of one SynthesizeOnline request (streamed sentence by sentence)"),
    PL_SERVICE_LOG_FIELD("tts", struct tts_cfg),
};
#undef F
#define N_FIELDS (sizeof tts_fields / sizeof tts_fields[0])

/* path as given when absolute or present, else under model_dir (into buf). */
static const char *under(const char *model_dir, const char *path, char *buf, size_t cap) {
    if (path[0] == '/' || access(path, R_OK) == 0) return path;
    snprintf(buf, cap, "%s/%s", model_dir, path);
    return buf;
}

/* The CMU dictionary file: tts.lexicon, or the first that exists of the model repository's
 * copy and the public data set's. "" when there is none. */
static const char *find_lexicon(const struct tts_cfg *c, char *buf, size_t cap) {
    if (!strcmp(c->lexicon, "none")) return "";
    if (c->lexicon[0]) return under(c->model_dir, c->lexicon, buf, cap);
    under(c->model_dir, "tts-lexicon/cmudict.dict", buf, cap);
    if (access(buf, R_OK) == 0) return buf;
    const char *data = getenv("PARLEY_DATA_DIR");
    if (data && *data) {
        snprintf(buf, cap, "%s/lexicon/cmudict.dict", data);
        if (access(buf, R_OK) == 0) return buf;
    }
    return "";
}

int main(int argc, char **argv) {
    static const struct pl_service_std std = PL_SERVICE_STD(struct tts_cfg, model_dir);
    struct tts_cfg cfg;
    int rc;
    memset(&cfg, 0, sizeof cfg);
    /* --voices LIST (--voice DIR) is ours; the shared start-up parses the rest */
    const char *voices_flag = NULL;
    char **args = malloc(((size_t)argc + 1) * sizeof *args);
    int n_args = 0;
    if (!args) return 1;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && i + 1 < argc && (!strcmp(argv[i], "--voices") || !strcmp(argv[i], "--voice")))
            voices_flag = argv[++i];
        else
            args[n_args++] = argv[i];
    }
    args[n_args] = NULL;
    bool go = pl_service_worker_start("tts", n_args, args, tts_fields, N_FIELDS, &std, &cfg, &rc);
    free(args);
    if (!go) return rc;
    rc = 1;
    if (voices_flag && pl_service_set_str(&cfg.voices, voices_flag) != PL_OK) {
        pl_config_deinit(tts_fields, N_FIELDS, &cfg);
        return 1;
    }
    struct pl_tts_service *svc = NULL;
    struct pl_worker *w = NULL;
    struct pl_strbuf voices;
    pl_strbuf_init(&voices);
    /* every voice directory: as given when it exists, else under model_dir */
    for (const char *p = cfg.voices; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && *p == ' ') p++, len--;
        if (len) {
            char one[4096], buf[8300];
            snprintf(one, sizeof one, "%.*s", (int)len, p);
            if (voices.len) pl_strbuf_append_char(&voices, ',');
            pl_strbuf_append(&voices, under(cfg.model_dir, one, buf, sizeof buf));
        }
        if (!e) break;
        p = e + 1;
    }
    char lex[4096], g2p[4096];
    struct pl_tts_service_opts so;
    pl_tts_service_opts_default(&so);
    so.voices = voices.data ? voices.data : "";
    so.lexicon = find_lexicon(&cfg, lex, sizeof lex);
    so.g2p = strcmp(cfg.g2p, "none") ? under(cfg.model_dir, cfg.g2p, g2p, sizeof g2p) : "";
    so.user_dictionary = cfg.user_dictionary;
    so.backend = cfg.backend;
    so.threads = (int)cfg.threads;
    so.max_words = (int)cfg.max_words;
    so.chunk_frames = (int)cfg.chunk_frames;
    so.max_text_bytes = (size_t)cfg.max_text_bytes;
    so.max_stream_text_bytes = (size_t)cfg.max_stream_text_bytes;

    struct pl_worker_opts wo = PL_WORKER_OPTS_INIT;
    pl_service_worker_opts("tts", &std, &cfg, &wo);
    wo.max_streams = (int)cfg.handler_threads * 8;
    if (pl_strbuf_status(&voices) != PL_OK || pl_worker_create(&wo, &w) != PL_OK ||
        pl_tts_service_create(&so, &svc) != PL_OK || pl_tts_service_register(svc, w) != PL_OK ||
        pl_worker_start(w) != PL_OK || pl_worker_install_signals(w) != PL_OK) {
        PL_LOGE("%s", pl_last_error());
        goto out;
    }
    pl_worker_set_ready(w, pl_tts_service_n_voices(svc) > 0); /* none: /readyz 503 */
    printf("parley-tts http_port=%d voices=%d names=", pl_worker_http_port(w),
           pl_tts_service_n_voices(svc));
    for (int i = 0; i < pl_tts_service_n_voices(svc); i++)
        printf("%s%s", i ? "," : "", pl_tts_service_voice_name(svc, i));
    printf("\n");
    fflush(stdout);
    pl_worker_wait(w);
    rc = 0;
out:
    pl_worker_destroy(w); /* drains requests before the voices go */
    pl_tts_service_destroy(svc);
    pl_strbuf_deinit(&voices);
    pl_config_deinit(tts_fields, N_FIELDS, &cfg);
    return rc;
}
