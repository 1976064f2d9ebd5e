/*
 * parley-synthesize (`parley synthesize`): speech from text through the gateway (Riva
 * RivaSpeechSynthesis, served by parley-tts).
 *
 *   parley synthesize "TEXT" -o OUT.wav [--voice V] [--rate R] [--ssml] [--sample-rate N]
 *                    [--encoding pcm|opus|mulaw|alaw] [--language L] [--dictionary D]
 *                    [--server HOST:PORT] [--timeout-ms MS] [--api-key KEY] [--tls-ca CA.pem]
 *                    [--json]
 *   parley synthesize --stream "TEXT" [-o OUT.wav] [...]
 *   parley synthesize --list-voices [--server HOST:PORT] [--api-key KEY] [--tls-ca CA.pem]
 *                    [--json]
 *
 * TEXT "-" reads standard input. --ssml: TEXT is SSML (wrapped in <speak> when it is not
 * already); --rate R wraps the text in <prosody rate="R"> (x-slow .. x-fast, or 150%).
 * Offline (Synthesize) writes one file: a WAV for pcm (16-bit), mulaw and alaw (8-bit G.711),
 * the Ogg/Opus bytes as they come for opus. --stream uses SynthesizeOnline with one request
 * per line of TEXT (as Riva's talk.py --stream does) and prints the time to first audio, the
 * total time and the real-time factor; -o is optional there. --list-voices prints each
 * voice.subvoice with its language and sample rate as GetRivaSynthesisConfig gives them
 * (talk.py --list-voices); with --json one object {"voices": [{"name", "language",
 * "subvoices": [...], "sample_rate_hz"}]}, one entry per model config.
 * Exit status 0; 1 when the call failed; 2 for a bad command line.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "client_grpc.h"
#include "file.h"
#include "proto_util.h"
#include "riva/proto/riva_tts.pb-c.h"
#include "strbuf.h"
#include "util.h"

#define SYNTH "/nvidia.riva.tts.RivaSpeechSynthesis/Synthesize"
#define ONLINE "/nvidia.riva.tts.RivaSpeechSynthesis/SynthesizeOnline"
#define CONFIG "/nvidia.riva.tts.RivaSpeechSynthesis/GetRivaSynthesisConfig"

static const char usage[] =
    "usage: parley synthesize TEXT -o OUT [options]     (TEXT - reads standard input)\n"
    "       parley synthesize --stream TEXT [-o OUT] [options]\n"
    "       parley synthesize --list-voices [--json]\n"
    "  -o FILE             output: WAV (pcm, mulaw, alaw) or Ogg/Opus (opus)\n"
    "  --voice V           a voice from --list-voices (default: the server's first)\n"
    "  --rate R            speaking rate: x-slow slow medium fast x-fast or a percentage\n"
    "  --ssml              TEXT is SSML\n"
    "  --sample-rate N     8000-48000 (default 22050)\n"
    "  --encoding E        pcm (default), opus, mulaw, alaw\n"
    "  --language L        language code (default en-US)\n"
    "  --dictionary D      custom pronunciations 'word  PH PH,word2  PH PH'\n"
    "  --stream            SynthesizeOnline, one request per line; prints time to first audio\n"
    "  --server HOST:PORT  the gateway (default 127.0.0.1:50051)\n"
    "  --api-key KEY       sent as 'authorization: Bearer KEY'\n"
    "  --tls-ca CA.pem     TLS, verifying the gateway with this CA certificate\n"
    "  --timeout-ms MS     (default 300000)\n"
    "  --json              print what was made as one JSON object (output, bytes, seconds,\n"
    "                      sample_rate_hz, encoding, elapsed_ms; --stream: first_audio_ms, ...;\n"
    "                      --list-voices: voices with name, language, subvoices,\n"
    "                      sample_rate_hz)\n";

struct opts {
    const char *text, *out, *voice, *rate, *language, *dictionary, *server, *api_key, *tls_ca;
    bool ssml, stream, list, json;
    long sample_rate, timeout_ms;
    int encoding; /* nvidia.riva.AudioEncoding */
};

static long num_arg(const char *opt, const char *v, long lo, long hi) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "parley synthesize: %s wants a number in %ld..%ld, not '%s'\n", opt, lo,
                hi, v);
        exit(2);
    }
    return x;
}

/* The text as sent: plain, or SSML with the rate applied. Caller owns (pl_free). */
static char *build_text(const struct opts *o, const char *text) {
    struct pl_strbuf sb;
    pl_strbuf_init(&sb);
    if (!o->ssml && !o->rate) {
        pl_strbuf_append(&sb, text);
        return pl_strbuf_detach(&sb);
    }
    const char *body = text;
    size_t len = strlen(text);
    if (o->ssml) { /* strip an outer <speak>...</speak> to wrap it again */
        while (*body == ' ' || *body == '\n' || *body == '\t') body++, len--;
        if (strncmp(body, "<speak>", 7) == 0) {
            body += 7;
            len -= 7;
            while (len && (body[len - 1] == ' ' || body[len - 1] == '\n')) len--;
            if (len >= 8 && strncmp(body + len - 8, "</speak>", 8) == 0) len -= 8;
        }
    }
    pl_strbuf_append(&sb, "<speak>");
    if (o->rate) pl_strbuf_appendf(&sb, "<prosody rate=\"%s\">", o->rate);
    if (o->ssml) {
        pl_strbuf_append_n(&sb, body, len);
    } else {
        for (const char *p = body; *p; p++) {
            if (*p == '&') pl_strbuf_append(&sb, "&amp;");
            else if (*p == '<') pl_strbuf_append(&sb, "&lt;");
            else if (*p == '>') pl_strbuf_append(&sb, "&gt;");
            else pl_strbuf_append_char(&sb, *p);
        }
    }
    if (o->rate) pl_strbuf_append(&sb, "</prosody>");
    pl_strbuf_append(&sb, "</speak>");
    return pl_strbuf_detach(&sb);
}

static void put_le(uint8_t *p, uint32_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Write the audio: Ogg as is; else a WAV header (PCM 16-bit, or G.711 8-bit) and the data. */
static int write_audio(const struct opts *o, const uint8_t *a, size_t n) {
    FILE *f = fopen(o->out, "wb");
    if (!f) {
        fprintf(stderr, "parley synthesize: %s: %s\n", o->out, strerror(errno));
        return 1;
    }
    bool ok = true;
    if (o->encoding != NVIDIA__RIVA__AUDIO_ENCODING__OGGOPUS) {
        int bits = o->encoding == NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM ? 16 : 8;
        int fmt = o->encoding == NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM ? 1
                  : o->encoding == NVIDIA__RIVA__AUDIO_ENCODING__MULAW   ? 7
                                                                         : 6;
        uint8_t h[44];
        memcpy(h, "RIFF", 4);
        put_le(h + 4, (uint32_t)(36 + n), 4);
        memcpy(h + 8, "WAVEfmt ", 8);
        put_le(h + 16, 16, 4);
        put_le(h + 20, (uint32_t)fmt, 2);
        put_le(h + 22, 1, 2);
        put_le(h + 24, (uint32_t)o->sample_rate, 4);
        put_le(h + 28, (uint32_t)(o->sample_rate * bits / 8), 4);
        put_le(h + 32, (uint32_t)(bits / 8), 2);
        put_le(h + 34, (uint32_t)bits, 2);
        memcpy(h + 36, "data", 4);
        put_le(h + 40, (uint32_t)n, 4);
        ok = fwrite(h, 1, sizeof h, f) == sizeof h;
    }
    ok = ok && (n == 0 || fwrite(a, 1, n, f) == n);
    if (fclose(f) != 0) ok = false;
    if (!ok) fprintf(stderr, "parley synthesize: cannot write %s\n", o->out);
    return ok ? 0 : 1;
}

/* Seconds of audio in n bytes (Opus: unknown, -1). */
static double seconds(const struct opts *o, size_t n) {
    if (o->encoding == NVIDIA__RIVA__AUDIO_ENCODING__OGGOPUS) return -1;
    int bps = o->encoding == NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM ? 2 : 1;
    return (double)n / bps / (double)o->sample_rate;
}

static void fill_request(const struct opts *o, char *text,
                         Nvidia__Riva__Tts__SynthesizeSpeechRequest *rq) {
    nvidia__riva__tts__synthesize_speech_request__init(rq);
    rq->text = text;
    rq->language_code = (char *)o->language;
    rq->encoding = (Nvidia__Riva__AudioEncoding)o->encoding;
    rq->sample_rate_hz = (int32_t)o->sample_rate;
    rq->voice_name = (char *)(o->voice ? o->voice : "");
    rq->custom_dictionary = (char *)(o->dictionary ? o->dictionary : "");
}

/* A voice as GetRivaSynthesisConfig describes it: its model config's parameters. */
struct voice {
    const char *language, *name, *subvoices, *sample_rate; /* "" when absent */
};

static void voice_of(const Nvidia__Riva__Tts__RivaSynthesisConfigResponse__Config *cfg,
                     struct voice *v) {
    *v = (struct voice){"", "", "", ""};
    for (size_t j = 0; j < cfg->n_parameters; j++) {
        const char *k = cfg->parameters[j]->key, *val = cfg->parameters[j]->value;
        if (!strcmp(k, "language_code")) v->language = val;
        else if (!strcmp(k, "voice_name")) v->name = val;
        else if (!strcmp(k, "subvoices")) v->subvoices = val;
        else if (!strcmp(k, "sample_rate")) v->sample_rate = val;
    }
}

/* Each subvoice of "a:0,b:1" in turn: *len bytes of its name at the returned pointer; NULL
 * after the last. Start with p = the list. */
static const char *next_subvoice(const char **p, size_t *len) {
    if (!*p || !**p) return NULL;
    const char *s = *p, *c = strchr(s, ','), *colon = strchr(s, ':');
    *len = c ? (size_t)(c - s) : strlen(s);
    if (colon && colon < s + *len) *len = (size_t)(colon - s);
    *p = c ? c + 1 : NULL;
    return s;
}

/* as talk.py --list-voices: voice_name.subvoice for each "subvoice:index" */
static void print_voice(const struct voice *v) {
    size_t len;
    for (const char *p = v->subvoices, *s; (s = next_subvoice(&p, &len));)
        printf("%s.%.*s\t%s\t%s Hz\n", v->name, (int)len, s, v->language, v->sample_rate);
}

/* {"name", "language", "subvoices": ["a", ...], "sample_rate_hz": N or null} */
static void print_voice_json(const struct voice *v, bool comma) {
    printf("%s{\"name\": ", comma ? ", " : "");
    pl_client_json_str(stdout, v->name);
    printf(", \"language\": ");
    pl_client_json_str(stdout, v->language);
    printf(", \"subvoices\": [");
    size_t len;
    int n = 0;
    for (const char *p = v->subvoices, *s; (s = next_subvoice(&p, &len));) {
        char sub[256];
        snprintf(sub, sizeof sub, "%.*s", (int)(len < sizeof sub ? len : sizeof sub - 1), s);
        printf("%s", n++ ? ", " : "");
        pl_client_json_str(stdout, sub);
    }
    char *end;
    long rate = strtol(v->sample_rate, &end, 10);
    if (*v->sample_rate && !*end) printf("], \"sample_rate_hz\": %ld}", rate);
    else printf("], \"sample_rate_hz\": null}");
}

static int list_voices(grpc_channel *ch, const struct opts *o) {
    Nvidia__Riva__Tts__RivaSynthesisConfigRequest rq =
        NVIDIA__RIVA__TTS__RIVA_SYNTHESIS_CONFIG_REQUEST__INIT;
    uint8_t *req = NULL, *resp = NULL;
    size_t n = 0, rn = 0;
    if (pl_proto_pack(&rq.base, &req, &n) != PL_OK) return 1;
    grpc_status_code s = pl_client_unary(ch, "synthesize", o->server, CONFIG, o->api_key, req, n,
                                         o->timeout_ms, &resp, &rn);
    pl_free(req);
    if (s != GRPC_STATUS_OK) return 1;
    ProtobufCMessage *m = NULL;
    if (pl_proto_unpack(&nvidia__riva__tts__riva_synthesis_config_response__descriptor, resp, rn,
                        &m) != PL_OK) {
        fprintf(stderr, "parley synthesize: bad response: %s\n", pl_last_error());
        pl_free(resp);
        return 1;
    }
    Nvidia__Riva__Tts__RivaSynthesisConfigResponse *r = (void *)m;
    if (o->json) printf("{\"voices\": [");
    for (size_t i = 0; i < r->n_model_config; i++) {
        struct voice v;
        voice_of(r->model_config[i], &v);
        if (o->json) print_voice_json(&v, i > 0);
        else print_voice(&v);
    }
    if (o->json) printf("]}\n");
    pl_proto_free(m);
    pl_free(resp);
    return 0;
}

static const char *encoding_name(int e) {
    switch (e) {
    case NVIDIA__RIVA__AUDIO_ENCODING__OGGOPUS: return "opus";
    case NVIDIA__RIVA__AUDIO_ENCODING__MULAW: return "mulaw";
    case NVIDIA__RIVA__AUDIO_ENCODING__ALAW: return "alaw";
    default: return "pcm";
    }
}

/* --json: the fields offline and streaming share, the object left open for theirs. */
static void json_head(const struct opts *o, size_t bytes, double secs, double elapsed_ms) {
    printf("{\"output\": ");
    if (o->out) pl_client_json_str(stdout, o->out);
    else printf("null");
    printf(", \"bytes\": %zu, \"seconds\": ", bytes);
    if (secs >= 0) printf("%.3f", secs);
    else printf("null");
    printf(", \"sample_rate_hz\": %ld, \"encoding\": \"%s\", \"voice\": ", o->sample_rate,
           encoding_name(o->encoding));
    pl_client_json_str(stdout, o->voice ? o->voice : "");
    printf(", \"elapsed_ms\": %.1f", elapsed_ms);
}

static int offline(grpc_channel *ch, const struct opts *o, char *text) {
    Nvidia__Riva__Tts__SynthesizeSpeechRequest rq;
    fill_request(o, text, &rq);
    uint8_t *req = NULL, *resp = NULL;
    size_t n = 0, rn = 0;
    if (pl_proto_pack(&rq.base, &req, &n) != PL_OK) return 1;
    int64_t t0 = pl_time_mono_us();
    grpc_status_code s = pl_client_unary(ch, "synthesize", o->server, SYNTH, o->api_key, req, n,
                                         o->timeout_ms, &resp, &rn);
    double ms = (double)(pl_time_mono_us() - t0) / 1000.0;
    pl_free(req);
    if (s != GRPC_STATUS_OK) return 1;
    ProtobufCMessage *m = NULL;
    if (pl_proto_unpack(&nvidia__riva__tts__synthesize_speech_response__descriptor, resp, rn,
                        &m) != PL_OK) {
        fprintf(stderr, "parley synthesize: bad response: %s\n", pl_last_error());
        pl_free(resp);
        return 1;
    }
    Nvidia__Riva__Tts__SynthesizeSpeechResponse *r = (void *)m;
    int rc = write_audio(o, r->audio.data, r->audio.len);
    double secs = seconds(o, r->audio.len);
    if (rc == 0 && o->json) {
        json_head(o, r->audio.len, secs, ms);
        printf(", \"processed_text\": ");
        pl_client_json_str(stdout, r->meta ? r->meta->processed_text : "");
        printf("}\n");
    } else if (rc == 0) {
        if (secs >= 0)
            printf("%s: %.2f s of audio at %ld Hz in %.0f ms\n", o->out, secs, o->sample_rate, ms);
        else
            printf("%s: %zu bytes of Ogg/Opus in %.0f ms\n", o->out, r->audio.len, ms);
        if (r->meta && r->meta->processed_text && *r->meta->processed_text)
            printf("spoken: %s\n", r->meta->processed_text);
    }
    pl_proto_free(m);
    pl_free(resp);
    return rc;
}

/* SynthesizeOnline: one request per non-empty line of text, sent in turn; responses read as
 * they come (libparley-client's stream helper, clients/c/client_rpc.h). */
static int streaming(grpc_channel *ch, const struct opts *o, char *text) {
    char *lines[4096];
    int n_lines = 0;
    for (char *p = text; *p && n_lines < (int)PL_ARRAY_LEN(lines);) {
        char *e = strchr(p, '\n');
        if (e) *e = 0;
        const char *q = p;
        while (*q == ' ' || *q == '\t' || *q == '\r') q++;
        if (*q) lines[n_lines++] = p;
        if (!e) break;
        p = e + 1;
    }
    if (n_lines == 0) {
        fprintf(stderr, "parley synthesize: no text\n");
        return 2;
    }
    Nvidia__Riva__Tts__SynthesizeSpeechRequest rq;
    fill_request(o, lines[0], &rq);
    int64_t t0 = pl_time_mono_us(), t_first = -1;
    struct pl__rpc_stream s;
    if (pl__rpc_stream_open(&s, ch, ONLINE, o->api_key, o->timeout_ms, &rq.base) != PL_OK) {
        fprintf(stderr, "parley synthesize: %s\n", pl_last_error());
        return 1;
    }
    uint8_t *audio = NULL;
    size_t n_audio = 0, cap = 0;
    int next = 1, n_resp = 0, rc = 0;
    while (!pl__rpc_stream_done(&s)) {
        int tag = pl__rpc_stream_next(&s, gpr_inf_future(GPR_CLOCK_MONOTONIC));
        if (tag < 0) break;
        if (tag == PL__RPC_RECV && s.recv) {
            ProtobufCMessage *m = NULL;
            if (pl_client_unpack(s.recv, &nvidia__riva__tts__synthesize_speech_response__descriptor,
                                 &m) == PL_OK) {
                Nvidia__Riva__Tts__SynthesizeSpeechResponse *r = (void *)m;
                n_resp++;
                if (r->audio.len && t_first < 0) t_first = pl_time_mono_us() - t0;
                if (n_audio + r->audio.len > cap) {
                    size_t c = cap ? cap * 2 : 1 << 16;
                    while (c < n_audio + r->audio.len) c *= 2;
                    uint8_t *a = pl_realloc(audio, c);
                    if (!a) {
                        fprintf(stderr, "parley synthesize: out of memory\n");
                        exit(1);
                    }
                    audio = a;
                    cap = c;
                }
                if (r->audio.len) memcpy(audio + n_audio, r->audio.data, r->audio.len);
                n_audio += r->audio.len;
                pl_proto_free(m);
            }
            pl__rpc_stream_recv_more(&s);
        }
        if (!pl__rpc_stream_can_send(&s)) continue;
        if (next < n_lines) {
            fill_request(o, lines[next++], &rq);
            if (pl__rpc_stream_send(&s, &rq.base) != PL_OK) break;
        } else if (pl__rpc_stream_close_send(&s) != PL_OK) {
            break;
        }
    }
    double total_ms = (double)(pl_time_mono_us() - t0) / 1000.0;
    if (!s.status_done || s.status != GRPC_STATUS_OK) {
        pl_client_print_status("synthesize", o->server, s.status, s.details);
        rc = 1;
    } else {
        double secs = seconds(o, n_audio);
        if (o->out) rc = write_audio(o, audio, n_audio);
        if (o->json && rc == 0) {
            json_head(o, n_audio, secs, total_ms);
            printf(", \"first_audio_ms\": %.1f, \"requests\": %d, \"responses\": %d}\n",
                   (double)t_first / 1000.0, n_lines, n_resp);
        }
    }
    if (rc == 0 && !o->json) {
        double secs = seconds(o, n_audio);
        printf("time to first audio: %.1f ms\n", (double)t_first / 1000.0);
        printf("%d request(s), %d response(s), %zu bytes", n_lines, n_resp, n_audio);
        if (secs > 0) printf(", %.2f s of audio, real-time factor %.3f", secs, total_ms / 1000.0 / secs);
        printf(", %.0f ms in all\n", total_ms);
    }
    pl_free(audio);
    pl__rpc_stream_deinit(&s);
    return rc;
}

int main(int argc, char **argv) {
    struct opts o = {.server = "127.0.0.1:50051", .language = "en-US", .sample_rate = 22050,
                     .timeout_ms = 300000, .encoding = NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--ssml")) {
            o.ssml = true;
        } else if (!strcmp(a, "--stream")) {
            o.stream = true;
        } else if (!strcmp(a, "--list-voices")) {
            o.list = true;
        } else if (has && (!strcmp(a, "-o") || !strcmp(a, "--output"))) {
            o.out = argv[++i];
        } else if (has && !strcmp(a, "--voice")) {
            o.voice = argv[++i];
        } else if (has && !strcmp(a, "--rate")) {
            o.rate = argv[++i];
        } else if (has && !strcmp(a, "--language")) {
            o.language = argv[++i];
        } else if (has && !strcmp(a, "--dictionary")) {
            o.dictionary = argv[++i];
        } else if (has && !strcmp(a, "--server")) {
            o.server = argv[++i];
        } else if (has && !strcmp(a, "--api-key")) {
            o.api_key = argv[++i];
        } else if (has && !strcmp(a, "--tls-ca")) {
            o.tls_ca = argv[++i];
        } else if (!strcmp(a, "--json")) {
            o.json = true;
        } else if (has && !strcmp(a, "--sample-rate")) {
            o.sample_rate = num_arg(a, argv[++i], 8000, 48000);
        } else if (has && !strcmp(a, "--timeout-ms")) {
            o.timeout_ms = num_arg(a, argv[++i], 1, 86400000);
        } else if (has && !strcmp(a, "--encoding")) {
            const char *e = argv[++i];
            if (!strcmp(e, "pcm")) o.encoding = NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM;
            else if (!strcmp(e, "opus")) o.encoding = NVIDIA__RIVA__AUDIO_ENCODING__OGGOPUS;
            else if (!strcmp(e, "mulaw")) o.encoding = NVIDIA__RIVA__AUDIO_ENCODING__MULAW;
            else if (!strcmp(e, "alaw")) o.encoding = NVIDIA__RIVA__AUDIO_ENCODING__ALAW;
            else {
                fprintf(stderr, "parley synthesize: --encoding pcm, opus, mulaw or alaw, not '%s'\n", e);
                return 2;
            }
        } else if ((a[0] == '-' && a[1]) || o.text) {
            fprintf(stderr, "parley synthesize: unexpected '%s'\n%s", a, usage);
            return 2;
        } else {
            o.text = a;
        }
    }
    if (!o.list && (!o.text || (!o.stream && !o.out))) {
        fputs(usage, stderr);
        return 2;
    }
    char *input = NULL, *text = NULL;
    if (o.text && !strcmp(o.text, "-")) {
        size_t n = 0;
        if (pl_read_file("/dev/stdin", 64u << 20, &input, &n) != PL_OK) {
            fprintf(stderr, "parley synthesize: standard input: %s\n", pl_last_error());
            return 1;
        }
        o.text = input;
    }
    grpc_init();
    grpc_channel *ch = pl_client_channel_tls("synthesize", o.server, o.tls_ca);
    if (!ch) {
        pl_free(input);
        grpc_shutdown();
        return 2;
    }
    int rc;
    if (o.list) {
        rc = list_voices(ch, &o);
    } else if (o.stream) {
        /* one request per line; SSML/rate applied to each line */
        struct pl_strbuf all;
        pl_strbuf_init(&all);
        char *copy = pl_strdup(o.text);
        for (char *p = copy, *e; p; p = e ? e + 1 : NULL) {
            e = strchr(p, '\n');
            if (e) *e = 0;
            if (!p[strspn(p, " \t\r")]) continue;
            char *t = build_text(&o, p);
            pl_strbuf_appendf(&all, "%s\n", t ? t : "");
            pl_free(t);
        }
        pl_free(copy);
        text = pl_strbuf_detach(&all);
        rc = text ? streaming(ch, &o, text) : 1;
    } else {
        text = build_text(&o, o.text);
        rc = text ? offline(ch, &o, text) : 1;
    }
    pl_free(text);
    pl_free(input);
    grpc_channel_destroy(ch);
    grpc_shutdown();
    return rc;
}
