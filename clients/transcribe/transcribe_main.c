/*
 * parley-transcribe (`parley transcribe FILE`): offline recognition of an audio file through
 * the gateway, as the official Riva client transcribe_file_offline.py does it: one
 * RecognizeRequest with the whole file (header included, encoding unset). Prints one line per
 * result (utterance); with --word-time-offsets, one line per word after it.
 *
 *   parley transcribe FILE [--server HOST:PORT] [--model NAME] [--language-code en-US]
 *                     [--max-alternatives N] [--word-time-offsets] [--automatic-punctuation]
 *                     [--no-verbatim-transcripts] [--profanity-filter] [--separate-channels]
 *                     [--boost PHRASE:SCORE]...
 *                     [--raw pcm|mulaw|alaw --sample-rate HZ [--channels N]]
 *                     [--custom KEY:VALUE]... [--timeout-ms MS] [--api-key KEY]
 *                     [--tls-ca CA.pem] [--json]
 *
 * --json prints {"results": [...]} (offline) or one JSON object per result and line
 * (--stream), each as pl_transcribe_print_json writes it, instead of the text lines.
 * Exit status: 0 on success, 1 when the call fails (the gRPC status and message are printed
 * to stderr), 2 on bad usage or an unreadable file.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "alloc.h"
#include "file.h"
#include "proto_util.h"
#include "riva/proto/riva_asr.pb-c.h"
#include "client_grpc.h"
#include "transcribe_stream.h"

#define MAX_LIST 64

static void usage(FILE *f) {
    fprintf(f,
            "usage: parley transcribe FILE [options]\n"
            "  --server HOST:PORT         gateway (default 127.0.0.1:50051)\n"
            "  --model NAME               acoustic model (default: the server's first)\n"
            "  --language-code CODE       default en-US\n"
            "  --max-alternatives N       print N alternatives per result\n"
            "  --word-time-offsets        print each word with start/end ms and confidence\n"
            "  --automatic-punctuation    punctuate (parley-nlu)\n"
            "  --no-verbatim-transcripts  numbers as digits (\"twenty five\" -> 25)\n"
            "  --profanity-filter         mask profanities\n"
            "  --separate-channels        one result per channel ([chN] prefix)\n"
            "  --boost PHRASE:SCORE       boost a phrase (repeatable)\n"
            "  --raw pcm|mulaw|alaw       headerless audio (needs --sample-rate)\n"
            "  --sample-rate HZ, --channels N\n"
            "  --custom KEY:VALUE         RecognitionConfig.custom_configuration (repeatable)\n"
            "  --timeout-ms MS            default 120000\n"
            "  --stream                   StreamingRecognize: interim (~) and final results\n"
            "  --chunk-ms MS              audio per streamed message (default 100)\n"
            "  --realtime                 send the chunks at the pace of the audio\n"
            "  --api-key KEY              sent as 'authorization: Bearer KEY'\n"
            "  --tls-ca CA.pem            TLS, verifying the gateway with this CA certificate\n"
            "  --json                     results as JSON ({\"results\": [...]}; --stream: one\n"
            "                             object per result and line)\n");
}

/* The audio file's bytes, or exit status 2 with the reason. */
static int read_audio(const char *path, uint8_t **out, size_t *n) {
    char *data = NULL;
    if (pl_read_file(path, 0, &data, n) != PL_OK) {
        fprintf(stderr, "parley transcribe: %s\n", pl_last_error());
        return 2;
    }
    *out = (uint8_t *)data;
    return 0;
}

/* A whole decimal number in [lo, hi], else exit 2 with a message naming the option. */
static long num_arg(const char *opt, const char *v, long lo, long hi) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "parley transcribe: %s wants a number in %ld..%ld, not '%s'\n", opt, lo,
                hi, v);
        exit(2);
    }
    return x;
}

/* Split "a:b" at the last ':' into key and value (in place). */
static int split_kv(char *s, char **k, char **v) {
    char *c = strrchr(s, ':');
    if (!c || c == s) return -1;
    *c = '\0';
    *k = s;
    *v = c + 1;
    return 0;
}

/* {"results": [one object per utterance, as pl_transcribe_print_json writes it]} */
static void print_json(const Nvidia__Riva__Asr__RecognizeResponse *r) {
    printf("{\"results\": [");
    for (size_t i = 0; i < r->n_results; i++) {
        const Nvidia__Riva__Asr__SpeechRecognitionResult *res = r->results[i];
        if (i) printf(", ");
        pl_transcribe_print_json(res->alternatives, res->n_alternatives, res->channel_tag,
                                 res->audio_processed, true, 0.0f);
    }
    printf("]}\n");
}

int main(int argc, char **argv) {
    const char *file = NULL, *server = "127.0.0.1:50051", *api_key = NULL, *tls_ca = NULL;
    Nvidia__Riva__Asr__RecognitionConfig cfg = NVIDIA__RIVA__ASR__RECOGNITION_CONFIG__INIT;
    cfg.language_code = "en-US";
    cfg.max_alternatives = 1;
    cfg.verbatim_transcripts = 1;
    long timeout_ms = 120000, chunk_ms = 100;
    bool stream = false, realtime = false, json = false;
    Nvidia__Riva__Asr__SpeechContext ctx[MAX_LIST], *ctxp[MAX_LIST];
    Nvidia__Riva__Asr__RecognitionConfig__CustomConfigurationEntry cc[MAX_LIST], *ccp[MAX_LIST];
    char *phrase[MAX_LIST];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--word-time-offsets")) cfg.enable_word_time_offsets = 1;
        else if (!strcmp(a, "--automatic-punctuation")) cfg.enable_automatic_punctuation = 1;
        else if (!strcmp(a, "--no-verbatim-transcripts")) cfg.verbatim_transcripts = 0;
        else if (!strcmp(a, "--profanity-filter")) cfg.profanity_filter = 1;
        else if (!strcmp(a, "--separate-channels")) cfg.enable_separate_recognition_per_channel = 1;
        else if (!strcmp(a, "--stream")) stream = true;
        else if (!strcmp(a, "--realtime")) realtime = true;
        else if (!strcmp(a, "--json")) json = true;
        else if (a[0] == '-' && a[1] == '-' && !more) {
            fprintf(stderr, "parley transcribe: %s needs a value\n", a);
            return 2;
        } else if (!strcmp(a, "--server")) server = argv[++i];
        else if (!strcmp(a, "--model")) cfg.model = argv[++i];
        else if (!strcmp(a, "--language-code")) cfg.language_code = argv[++i];
        else if (!strcmp(a, "--api-key")) api_key = argv[++i];
        else if (!strcmp(a, "--tls-ca")) tls_ca = argv[++i];
        else if (!strcmp(a, "--max-alternatives")) cfg.max_alternatives = (int32_t)num_arg(a, argv[++i], 1, 32);
        else if (!strcmp(a, "--sample-rate")) cfg.sample_rate_hertz = (int32_t)num_arg(a, argv[++i], 8000, 48000);
        else if (!strcmp(a, "--channels")) cfg.audio_channel_count = (int32_t)num_arg(a, argv[++i], 1, 8);
        else if (!strcmp(a, "--timeout-ms")) timeout_ms = num_arg(a, argv[++i], 1, 86400000);
        else if (!strcmp(a, "--chunk-ms")) chunk_ms = num_arg(a, argv[++i], 1, 60000);
        else if (!strcmp(a, "--raw")) {
            const char *e = argv[++i];
            if (!strcmp(e, "pcm")) cfg.encoding = NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM;
            else if (!strcmp(e, "mulaw")) cfg.encoding = NVIDIA__RIVA__AUDIO_ENCODING__MULAW;
            else if (!strcmp(e, "alaw")) cfg.encoding = NVIDIA__RIVA__AUDIO_ENCODING__ALAW;
            else {
                fprintf(stderr, "parley transcribe: --raw pcm, mulaw or alaw, not '%s'\n", e);
                return 2;
            }
        } else if (!strcmp(a, "--boost") || !strcmp(a, "--custom")) {
            char *k, *v;
            bool boost = !strcmp(a, "--boost");
            size_t *n = boost ? &cfg.n_speech_contexts : &cfg.n_custom_configuration;
            if (*n >= MAX_LIST || split_kv(argv[++i], &k, &v) != 0) {
                fprintf(stderr, "parley transcribe: %s wants KEY:VALUE (at most %d)\n", a, MAX_LIST);
                return 2;
            }
            if (boost) {
                nvidia__riva__asr__speech_context__init(&ctx[*n]);
                phrase[*n] = k;
                ctx[*n].phrases = &phrase[*n];
                ctx[*n].n_phrases = 1;
                ctx[*n].boost = strtof(v, NULL);
                ctxp[*n] = &ctx[*n];
                cfg.speech_contexts = ctxp;
            } else {
                nvidia__riva__asr__recognition_config__custom_configuration_entry__init(&cc[*n]);
                cc[*n].key = k;
                cc[*n].value = v;
                ccp[*n] = &cc[*n];
                cfg.custom_configuration = ccp;
            }
            (*n)++;
        } else if (a[0] == '-') {
            fprintf(stderr, "parley transcribe: unknown option %s\n", a);
            usage(stderr);
            return 2;
        } else if (!file) file = a;
        else {
            usage(stderr);
            return 2;
        }
    }
    if (!file) {
        usage(stderr);
        return 2;
    }
    if (stream) { /* transcribe_stream.c */
        uint8_t *audio = NULL;
        size_t n_audio = 0;
        if (read_audio(file, &audio, &n_audio) != 0) return 2;
        grpc_init();
        grpc_channel *sch = pl_client_channel_tls("transcribe", server, tls_ca);
        int src = sch ? pl_transcribe_stream(sch, api_key, &cfg, audio, n_audio, (int)chunk_ms,
                                             realtime, timeout_ms, server, json)
                      : 2;
        if (sch) grpc_channel_destroy(sch);
        grpc_shutdown();
        pl_free(audio);
        return src;
    }
    Nvidia__Riva__Asr__RecognizeRequest rq = NVIDIA__RIVA__ASR__RECOGNIZE_REQUEST__INIT;
    rq.config = &cfg;
    if (read_audio(file, &rq.audio.data, &rq.audio.len) != 0) return 2;
    uint8_t *req = NULL;
    size_t req_len = 0;
    if (pl_proto_pack(&rq.base, &req, &req_len) != PL_OK) {
        fprintf(stderr, "parley transcribe: out of memory\n");
        pl_free(rq.audio.data);
        return 2;
    }
    pl_free(rq.audio.data);

    int rc = 1;
    grpc_init();
    grpc_channel *ch = pl_client_channel_tls("transcribe", server, tls_ca);
    if (!ch) {
        pl_free(req);
        grpc_shutdown();
        return 2;
    }
    uint8_t *resp = NULL;
    size_t resp_len = 0;
    grpc_status_code status = pl_client_unary(
        ch, "transcribe", server, "/nvidia.riva.asr.RivaSpeechRecognition/Recognize", api_key, req,
        req_len, timeout_ms, &resp, &resp_len);
    pl_free(req);
    if (status == GRPC_STATUS_OK) {
        ProtobufCMessage *m = NULL;
        if (pl_proto_unpack(&nvidia__riva__asr__recognize_response__descriptor, resp, resp_len,
                            &m) != PL_OK) {
            fprintf(stderr, "parley transcribe: the response is not a RecognizeResponse\n");
        } else {
            Nvidia__Riva__Asr__RecognizeResponse *r = (void *)m;
            if (json) print_json(r);
            for (size_t i = 0; !json && i < r->n_results; i++) {
                const Nvidia__Riva__Asr__SpeechRecognitionResult *res = r->results[i];
                for (size_t k = 0; k < res->n_alternatives; k++) {
                    const Nvidia__Riva__Asr__SpeechRecognitionAlternative *al = res->alternatives[k];
                    if (cfg.max_alternatives > 1)
                        printf("[%zu.%zu ch%d %.2fs conf %.3f] ", i, k, res->channel_tag,
                               res->audio_processed, al->confidence);
                    else if (res->channel_tag > 1 || cfg.enable_separate_recognition_per_channel)
                        printf("[ch%d] ", res->channel_tag);
                    printf("%s\n", al->transcript);
                    for (size_t w = 0; k == 0 && w < al->n_words; w++)
                        printf("    %7.3f %7.3f  %-20s %.3f\n", al->words[w]->start_time / 1000.0,
                               al->words[w]->end_time / 1000.0, al->words[w]->word,
                               al->words[w]->confidence);
                }
            }
            rc = 0;
        }
        pl_proto_free(m);
    }
    pl_free(resp);
    grpc_channel_destroy(ch);
    grpc_shutdown();
    return rc;
}
