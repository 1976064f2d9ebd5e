/*
 * perf_stream.c - `parley perf --stream`: the streaming ASR benchmark (like Riva's streaming
 * perf client), on gRPC C core.
 *
 * For each concurrency level N, N slots each run StreamingRecognize calls of the same
 * recording (16 kHz mono LINEAR_PCM, decoded and resampled from WAV/FLAC/... by
 * common/audio.h) through one channel to the gateway: a first message with
 * streaming_config, then the audio in chunks of --chunk-ms, paced by the clock (chunk i is
 * due chunk_ms * i after the config message; --no-realtime sends each chunk as soon as the
 * previous send completed), then the half-close. The slots' first calls start chunk_ms / N
 * apart so that the chunk phases spread, as tests/integration/asr_stream_bench.py does.
 * A slot runs --iterations calls back to back, or starts new ones until --duration seconds
 * have passed. Latencies and the real-time criterion are defined in perf_stats.h (the same
 * as asr_stream_bench.py's).
 *
 * One thread, one completion queue: per call one send (config, chunk or half-close), one
 * receive and the status are outstanding; a tag says which call and which op. Every call has
 * a deadline (--timeout), so a stream that never ends is reported with DEADLINE_EXCEEDED
 * instead of hanging; the first failed call's status and message are printed.
 */
#include "perf_stream.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "alloc.h"
#include "audio.h"
#include "perf_common.h"
#include "perf_stats.h"
#include "proto_util.h"
#include "riva/proto/riva_asr.pb-c.h"
#include "util.h"

#define RATE 16000
#define BYTES_PER_S (RATE * 2.0)

struct opts {
    const char *target, *rpc, *audio, *conc_list, *api_key, *ssl_cert, *csv, *label;
    const char *language, *model;
    bool use_ssl, paced, interim, punct;
    int chunk_ms;
    long iterations;
    double duration_s, timeout_s, rt_p99_ms, rt_margin_s;
    double ramp_s, warmup_s; /* ramp_s < 0: first calls chunk_ms / N apart */
};

enum { OP_SEND, OP_RECV, OP_STATUS };

struct stream;
struct optag {
    struct stream *s;
    int op;
};

/* One slot: the call it is running now (when running) and that call's measurements. */
struct stream {
    struct bench *b;
    struct optag tags[3];
    grpc_call *call;
    grpc_metadata_array init_md, trail_md;
    grpc_status_code status;
    grpc_slice details;
    grpc_byte_buffer *resp, *out;
    bool running, slot_done;
    bool send_busy, recv_done, status_done, closed, got_final, bad_resp;
    size_t n_sent;    /* chunks sent */
    double *sent_end; /* [n_chunks] audio time (s) at the end of chunk i */
    int64_t *sent_t;  /* [n_chunks] when chunk i was sent (ns, monotonic) */
    int64_t t_start, t_due, t_close, t_next_start;
    double fin_ms;
    long runs;
};

/* What one level measured (perf_stats.h). */
struct level_acc {
    struct pl_perf_samples lat, fin, ep;
    double slowest_s;
    long streams, errors, finals;
    grpc_status_code first_code;
    char first_msg[300];
    char text[200]; /* a final transcript, as evidence that recognition ran */
};

struct bench {
    const struct opts *o;
    grpc_channel *ch;
    grpc_completion_queue *cq;
    grpc_slice method;
    grpc_slice config;  /* the packed first message */
    grpc_slice *chunks; /* [n_chunks] packed audio messages */
    double *chunk_end;  /* [n_chunks] audio time at the end of each */
    size_t n_chunks;
    double audio_s;
    int64_t chunk_ns;
    int64_t t_measure; /* results received before this time are not measured (--warmup) */
    grpc_metadata auth;
    size_t n_auth;
    struct level_acc acc;
};

static void usage(FILE *f) {
    fprintf(
        f,
        "usage: parley perf --stream --audio FILE [--server HOST:PORT] [--rpc NAME]\n"
        "                   [--concurrency 1,8,16,32,48] [--chunk-ms 100] [--no-realtime]\n"
        "                   [--iterations K | --duration S] [--timeout S]\n"
        "                   [--ramp S] [--warmup S]\n"
        "                   [--no-interim] [--punctuation] [--language-code en-US] [--model M]\n"
        "                   [--rt-p99-ms 500] [--rt-margin-s 1] [--api-key K]\n"
        "                   [--tls-ca CA.pem] [--use-ssl] [--label L] [--csv FILE]\n"
        "  --server HOST:PORT the gateway (default 127.0.0.1:50051; also --target)\n"
        "  --tls-ca CA.pem    TLS, verifying the gateway with this CA (also --ssl-cert)\n"
        "  --rpc              StreamingRecognize (default; also riva.asr.RivaSpeechRecognition/\n"
        "                     StreamingRecognize, the full path or streaming_recognize)\n"
        "  --audio FILE       WAV/FLAC/Ogg recording; sent as 16 kHz mono LINEAR_PCM\n"
        "  --chunk-ms MS      audio per message (default 100)\n"
        "  --no-realtime      send chunks as fast as possible (default: paced by the clock)\n"
        "  --iterations K     streams each of the N slots runs back to back (default 1)\n"
        "  --duration S       instead: slots start new streams until S seconds have passed\n"
        "  --ramp S           the slots' first streams start S * i / N seconds after the\n"
        "                     level's start (default: chunk-ms * i / N, only the chunk\n"
        "                     phases spread; with the clip's length and --duration, the\n"
        "                     streams' ends spread too, as independent users' would)\n"
        "  --warmup S         measure only the results and finals received S seconds or more\n"
        "                     after the level's start (errors and stream times: all)\n"
        "  --timeout S        deadline of each stream (default: audio length + 60 s)\n"
        "  --rt-p99-ms MS     real-time bound on the p99 chunk latency (default 500)\n"
        "  --rt-margin-s S    real time: slowest stream <= audio + chunk + S (default 1)\n"
        "  --api-key K        sent as 'authorization: Bearer K'\n"
        "  --use-ssl          TLS with the system's roots; --ssl-cert PEM: with these roots\n");
}

static bool next_arg(int argc, char **argv, int *i, const char **v) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "parley perf: %s needs a value\n", argv[*i]);
        return false;
    }
    *v = argv[++*i];
    return true;
}

static bool parse_num(const char *flag, const char *v, double lo, double hi, double *out) {
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "parley perf: %s %s: expected a number in [%g, %g]\n", flag, v, lo, hi);
        return false;
    }
    *out = x;
    return true;
}

/* Returns 0 ok, 1 help printed, 2 bad arguments. */
static int parse_args(int argc, char **argv, struct opts *o) {
    memset(o, 0, sizeof *o);
    o->target = "127.0.0.1:50051";
    o->rpc = "StreamingRecognize";
    o->conc_list = "1";
    o->language = "en-US";
    o->paced = o->interim = true;
    o->chunk_ms = 100;
    o->iterations = 1;
    o->rt_p99_ms = 500;
    o->rt_margin_s = 1.0;
    o->ramp_s = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        double x;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 1;
        } else if (!strcmp(a, "--stream")) {
        } else if (!strcmp(a, "--realtime")) {
            o->paced = true;
        } else if (!strcmp(a, "--no-realtime")) {
            o->paced = false;
        } else if (!strcmp(a, "--no-interim")) {
            o->interim = false;
        } else if (!strcmp(a, "--punctuation") || !strcmp(a, "--automatic-punctuation")) {
            o->punct = true;
        } else if (!strcmp(a, "--use-ssl")) {
            o->use_ssl = true;
        } else if (!strcmp(a, "--target") || !strcmp(a, "--server")) {
            if (!next_arg(argc, argv, &i, &o->target)) return 2;
        } else if (!strcmp(a, "--rpc")) {
            if (!next_arg(argc, argv, &i, &o->rpc)) return 2;
        } else if (!strcmp(a, "--audio") || !strcmp(a, "--audio-file")) {
            if (!next_arg(argc, argv, &i, &o->audio)) return 2;
        } else if (!strcmp(a, "--concurrency")) {
            if (!next_arg(argc, argv, &i, &o->conc_list)) return 2;
        } else if (!strcmp(a, "--api-key")) {
            if (!next_arg(argc, argv, &i, &o->api_key)) return 2;
        } else if (!strcmp(a, "--ssl-cert") || !strcmp(a, "--tls-ca")) {
            if (!next_arg(argc, argv, &i, &o->ssl_cert)) return 2;
            o->use_ssl = true;
        } else if (!strcmp(a, "--csv")) {
            if (!next_arg(argc, argv, &i, &o->csv)) return 2;
        } else if (!strcmp(a, "--label")) {
            if (!next_arg(argc, argv, &i, &o->label)) return 2;
        } else if (!strcmp(a, "--language-code")) {
            if (!next_arg(argc, argv, &i, &o->language)) return 2;
        } else if (!strcmp(a, "--model")) {
            if (!next_arg(argc, argv, &i, &o->model)) return 2;
        } else if (!strcmp(a, "--chunk-ms")) {
            if (!next_arg(argc, argv, &i, &v) || !parse_num(a, v, 10, 10000, &x)) return 2;
            o->chunk_ms = (int)x;
        } else if (!strcmp(a, "--iterations")) {
            if (!next_arg(argc, argv, &i, &v) || !parse_num(a, v, 1, 1e6, &x)) return 2;
            o->iterations = (long)x;
        } else if (!strcmp(a, "--duration")) {
            if (!next_arg(argc, argv, &i, &v) || !parse_num(a, v, 0.001, 1e6, &o->duration_s))
                return 2;
        } else if (!strcmp(a, "--ramp")) {
            if (!next_arg(argc, argv, &i, &v) || !parse_num(a, v, 0, 1e6, &o->ramp_s)) return 2;
        } else if (!strcmp(a, "--warmup")) {
            if (!next_arg(argc, argv, &i, &v) || !parse_num(a, v, 0, 1e6, &o->warmup_s)) return 2;
        } else if (!strcmp(a, "--timeout")) {
            if (!next_arg(argc, argv, &i, &v) || !parse_num(a, v, 0.1, 1e6, &o->timeout_s))
                return 2;
        } else if (!strcmp(a, "--rt-p99-ms")) {
            if (!next_arg(argc, argv, &i, &v) || !parse_num(a, v, 0, 1e9, &o->rt_p99_ms)) return 2;
        } else if (!strcmp(a, "--rt-margin-s")) {
            if (!next_arg(argc, argv, &i, &v) || !parse_num(a, v, 0, 1e6, &o->rt_margin_s))
                return 2;
        } else {
            fprintf(stderr, "parley perf: unknown option %s for --stream\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!o->audio) {
        fprintf(stderr, "parley perf: --stream needs --audio FILE\n");
        return 2;
    }
    return 0;
}

/* The recording as 16 kHz mono s16le. OUT: *pcm (caller owns, pl_free), *n bytes. */
static pl_status load_audio(const char *path, uint8_t **pcm, size_t *n) {
    struct pl_audio *a = NULL, *r = NULL;
    int16_t *s16 = NULL;
    *pcm = NULL;
    *n = 0;
    pl_status st = pl_audio_decode_file(path, NULL, &a, NULL);
    if (st != PL_OK) goto fail;
    PL_TRY_GOTO(st, pl_audio_to_mono(a));
    if (a->sample_rate != RATE) PL_TRY_GOTO(st, pl_audio_resample(a, RATE, &r));
    const struct pl_audio *m = r ? r : a;
    if (m->n_frames == 0) {
        st = PL_ERR(PL_E_FORMAT, "%s: no samples", path);
        goto fail;
    }
    s16 = pl_malloc(m->n_frames * sizeof *s16);
    if (!s16) {
        st = PL_ERR(PL_E_NOMEM, "%s: %zu samples", path, m->n_frames);
        goto fail;
    }
    pl_audio_float_to_s16(m->samples, m->n_frames, s16);
    *pcm = (uint8_t *)s16; /* the host is little-endian (x86-64, arm64) */
    *n = m->n_frames * 2;
    s16 = NULL;
fail:
    pl_free(s16);
    pl_audio_destroy(r);
    pl_audio_destroy(a);
    return st;
}

static pl_status pack_slice(const Nvidia__Riva__Asr__StreamingRecognizeRequest *rq,
                            grpc_slice *out) {
    uint8_t *buf = NULL;
    size_t len = 0;
    PL_TRY(pl_proto_pack(&rq->base, &buf, &len));
    *out = grpc_slice_from_copied_buffer((const char *)buf, len);
    pl_free(buf);
    return PL_OK;
}

/* The config message and every audio message, packed once for all streams. */
static pl_status prepare(struct bench *b, const uint8_t *pcm, size_t n) {
    const struct opts *o = b->o;
    Nvidia__Riva__Asr__RecognitionConfig rc = NVIDIA__RIVA__ASR__RECOGNITION_CONFIG__INIT;
    rc.encoding = NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM;
    rc.sample_rate_hertz = RATE;
    rc.audio_channel_count = 1;
    rc.max_alternatives = 1;
    rc.language_code = (char *)o->language;
    rc.enable_automatic_punctuation = o->punct;
    if (o->model) rc.model = (char *)o->model;
    Nvidia__Riva__Asr__StreamingRecognitionConfig sc =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNITION_CONFIG__INIT;
    sc.config = &rc;
    sc.interim_results = o->interim;
    Nvidia__Riva__Asr__StreamingRecognizeRequest rq =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__INIT;
    rq.streaming_request_case =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_STREAMING_CONFIG;
    rq.streaming_config = &sc;
    PL_TRY(pack_slice(&rq, &b->config));

    size_t chunk = (size_t)(2 * (RATE / 1000) * o->chunk_ms);
    b->n_chunks = (n + chunk - 1) / chunk;
    b->chunks = pl_calloc(b->n_chunks, sizeof *b->chunks);
    b->chunk_end = pl_calloc(b->n_chunks, sizeof *b->chunk_end);
    if (!b->chunks || !b->chunk_end) return PL_ERR(PL_E_NOMEM, "%zu chunks", b->n_chunks);
    rq.streaming_request_case =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_AUDIO_CONTENT;
    for (size_t i = 0; i < b->n_chunks; i++) {
        size_t off = i * chunk, k = n - off < chunk ? n - off : chunk;
        rq.audio_content.data = (uint8_t *)pcm + off;
        rq.audio_content.len = k;
        PL_TRY(pack_slice(&rq, &b->chunks[i]));
        b->chunk_end[i] = (double)(off + k) / BYTES_PER_S;
    }
    b->audio_s = (double)n / BYTES_PER_S;
    b->chunk_ns = (int64_t)o->chunk_ms * 1000000;
    return PL_OK;
}

static int64_t now_ns(void) { return pl_time_mono_ns(); }

static void record_error(struct level_acc *acc, grpc_status_code code, const char *msg) {
    if (acc->errors++ == 0) {
        acc->first_code = code;
        snprintf(acc->first_msg, sizeof acc->first_msg, "%s", msg);
    }
}

/* Start a batch of ops on s's call; on failure (a bug or a dead call) the tag never comes
 * back, so the op is counted as done. */
static bool start_ops(struct stream *s, const grpc_op *ops, size_t n, int op) {
    grpc_call_error e = grpc_call_start_batch(s->call, ops, n, &s->tags[op], NULL);
    if (e == GRPC_CALL_OK) return true;
    char msg[80];
    snprintf(msg, sizeof msg, "grpc_call_start_batch: error %d", (int)e);
    if (!s->bad_resp) record_error(&s->b->acc, GRPC_STATUS_INTERNAL, msg);
    s->bad_resp = true; /* counted once */
    grpc_call_cancel(s->call, NULL);
    return false;
}

static void start_stream(struct stream *s, int64_t t) {
    struct bench *b = s->b;
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                     gpr_time_from_millis((int64_t)(b->o->timeout_s * 1000), GPR_TIMESPAN));
    s->call = grpc_channel_create_call(b->ch, NULL, GRPC_PROPAGATE_DEFAULTS, b->cq, b->method, NULL,
                                       deadline, NULL);
    grpc_metadata_array_init(&s->init_md);
    grpc_metadata_array_init(&s->trail_md);
    s->status = GRPC_STATUS_UNKNOWN;
    s->details = grpc_empty_slice();
    s->resp = s->out = NULL;
    s->running = true;
    s->send_busy = s->recv_done = s->status_done = s->closed = s->got_final = s->bad_resp = false;
    s->n_sent = 0;
    s->fin_ms = NAN;
    s->t_start = t;
    s->t_due = t; /* the first chunk right after the config message */

    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[0].data.recv_status_on_client.trailing_metadata = &s->trail_md;
    ops[0].data.recv_status_on_client.status = &s->status;
    ops[0].data.recv_status_on_client.status_details = &s->details;
    if (!start_ops(s, ops, 1, OP_STATUS)) s->status_done = true;

    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = b->n_auth;
    ops[0].data.send_initial_metadata.metadata = b->n_auth ? &b->auth : NULL;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    s->out = grpc_raw_byte_buffer_create(&b->config, 1);
    ops[1].data.send_message.send_message = s->out;
    s->send_busy = start_ops(s, ops, 2, OP_SEND);

    /* initial metadata with the first receive: a server may send its headers only with the
     * first response */
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[0].data.recv_initial_metadata.recv_initial_metadata = &s->init_md;
    ops[1].op = GRPC_OP_RECV_MESSAGE;
    ops[1].data.recv_message.recv_message = &s->resp;
    if (!start_ops(s, ops, 2, OP_RECV)) s->recv_done = true;
}

/* Send s's next chunk (when due) or the half-close; *wake: the earliest time a send is due. */
static void try_send(struct stream *s, int64_t t, int64_t *wake) {
    struct bench *b = s->b;
    if (!s->running || s->send_busy || s->closed || s->status_done) return;
    grpc_op op;
    memset(&op, 0, sizeof op);
    if (s->n_sent < b->n_chunks) {
        if (b->o->paced && t < s->t_due) {
            if (s->t_due < *wake) *wake = s->t_due;
            return;
        }
        s->out = grpc_raw_byte_buffer_create(&b->chunks[s->n_sent], 1);
        op.op = GRPC_OP_SEND_MESSAGE;
        op.data.send_message.send_message = s->out;
        s->sent_end[s->n_sent] = b->chunk_end[s->n_sent];
        s->sent_t[s->n_sent] = t;
        s->n_sent++;
        s->t_due += b->chunk_ns;
    } else {
        /* the half-close follows the last chunk at once (asr_stream_bench.py does the same) */
        op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        s->closed = true;
        s->t_close = t;
    }
    s->send_busy = start_ops(s, &op, 1, OP_SEND);
    if (!s->send_busy && s->out) {
        grpc_byte_buffer_destroy(s->out);
        s->out = NULL;
    }
}

static void on_response(struct stream *s, int64_t t) {
    struct bench *b = s->b;
    grpc_byte_buffer_reader rd;
    if (!grpc_byte_buffer_reader_init(&rd, s->resp)) {
        s->bad_resp = true;
        return;
    }
    grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
    grpc_byte_buffer_reader_destroy(&rd);
    ProtobufCMessage *m = NULL;
    if (pl_proto_unpack(&nvidia__riva__asr__streaming_recognize_response__descriptor,
                        GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all), &m) != PL_OK) {
        if (!s->bad_resp)
            record_error(&b->acc, GRPC_STATUS_OK, "a response is not a StreamingRecognizeResponse");
        s->bad_resp = true;
        grpc_slice_unref(all);
        return;
    }
    const Nvidia__Riva__Asr__StreamingRecognizeResponse *r = (const void *)m;
    for (size_t i = 0; i < r->n_results; i++) {
        const Nvidia__Riva__Asr__StreamingRecognitionResult *res = r->results[i];
        double ap = res->audio_processed;
        if (pl_perf_is_last_final(res->is_final, s->closed, ap, b->audio_s)) {
            /* a final before --warmup's end counts as received, not as measured */
            s->fin_ms = t < b->t_measure ? NAN : (double)(t - s->t_close) / 1e6;
            s->got_final = true;
            if (!b->acc.text[0] && res->n_alternatives)
                snprintf(b->acc.text, sizeof b->acc.text, "%s",
                         res->alternatives[0]->transcript ? res->alternatives[0]->transcript : "");
            continue;
        }
        long k = pl_perf_chunk_for(s->sent_end, s->n_sent, ap);
        if (k < 0 || t < b->t_measure) continue;
        double ms = (double)(t - s->sent_t[k]) / 1e6;
        (void)pl_perf_samples_add(res->is_final ? &b->acc.ep : &b->acc.lat, ms);
    }
    pl_proto_free(m);
    grpc_slice_unref(all);
}

/* The call of s is over: account for it and free it. */
static void finish_stream(struct stream *s, int64_t t) {
    struct level_acc *acc = &s->b->acc;
    double wall = (double)(t - s->t_start) / 1e9;
    if (wall > acc->slowest_s) acc->slowest_s = wall;
    acc->streams++;
    if (s->status != GRPC_STATUS_OK) {
        char *d = grpc_slice_to_c_string(s->details);
        char msg[300];
        snprintf(msg, sizeof msg, "%s", d);
        gpr_free(d);
        record_error(acc, s->status, msg);
    } else if (s->got_final) {
        acc->finals++;
        if (!isnan(s->fin_ms)) (void)pl_perf_samples_add(&acc->fin, s->fin_ms);
    }
    if (s->out) grpc_byte_buffer_destroy(s->out);
    s->out = NULL;
    grpc_slice_unref(s->details);
    grpc_metadata_array_destroy(&s->init_md);
    grpc_metadata_array_destroy(&s->trail_md);
    grpc_call_unref(s->call);
    s->call = NULL;
    s->running = false;
    s->runs++;
    s->t_next_start = t;
}

static void on_event(struct optag *tag, bool ok, int64_t t) {
    struct stream *s = tag->s;
    grpc_op op;
    switch (tag->op) {
    case OP_SEND:
        s->send_busy = false;
        if (s->out) grpc_byte_buffer_destroy(s->out);
        s->out = NULL;
        break;
    case OP_RECV:
        if (!s->resp) {
            s->recv_done = true;
            break;
        }
        on_response(s, t);
        grpc_byte_buffer_destroy(s->resp);
        s->resp = NULL;
        memset(&op, 0, sizeof op);
        op.op = GRPC_OP_RECV_MESSAGE;
        op.data.recv_message.recv_message = &s->resp;
        if (!start_ops(s, &op, 1, OP_RECV)) s->recv_done = true;
        break;
    case OP_STATUS:
        s->status_done = true;
        break;
    }
    (void)ok; /* a failed send or receive shows in the status */
    if (s->running && s->status_done && s->recv_done && !s->send_busy) finish_stream(s, t);
}

static bool slot_wants_more(const struct stream *s, int64_t t, int64_t t_end) {
    const struct opts *o = s->b->o;
    return o->duration_s > 0 ? t < t_end : s->runs < o->iterations;
}

/* Run one concurrency level; the measurements land in b->acc. Returns PL_OK or an error
 * that stops the benchmark (memory, a dead completion queue). */
static pl_status run_level(struct bench *b, int conc) {
    pl_status st = PL_OK;
    struct stream *ss = pl_calloc((size_t)conc, sizeof *ss);
    if (!ss) return PL_ERR(PL_E_NOMEM, "%d streams", conc);
    int64_t t0 = now_ns();
    int64_t t_end = t0 + (int64_t)(b->o->duration_s * 1e9);
    b->t_measure = t0 + (int64_t)(b->o->warmup_s * 1e9);
    for (int i = 0; i < conc; i++) {
        struct stream *s = &ss[i];
        s->b = b;
        for (int k = 0; k < 3; k++) s->tags[k] = (struct optag){s, k};
        s->sent_end = pl_calloc(b->n_chunks, sizeof *s->sent_end);
        s->sent_t = pl_calloc(b->n_chunks, sizeof *s->sent_t);
        if (!s->sent_end || !s->sent_t) {
            st = PL_ERR(PL_E_NOMEM, "%d streams of %zu chunks", conc, b->n_chunks);
            goto fail;
        }
        if (b->o->ramp_s >= 0) /* spread the starts (and so the ends) over ramp_s */
            s->t_next_start = t0 + (int64_t)(b->o->ramp_s * 1e9 * i / conc);
        else /* spread the chunk phases */
            s->t_next_start = t0 + b->chunk_ns * i / conc;
    }
    int slots_left = conc;
    while (slots_left > 0) {
        int64_t t = now_ns();
        int64_t wake = t + 1000000000;
        for (int i = 0; i < conc; i++) {
            struct stream *s = &ss[i];
            if (!s->running && !s->slot_done) {
                if (t < s->t_next_start) {
                    if (s->t_next_start < wake) wake = s->t_next_start;
                    continue;
                }
                if (!slot_wants_more(s, t, t_end)) {
                    s->slot_done = true;
                    slots_left--;
                    continue;
                }
                start_stream(s, t);
            }
            try_send(s, t, &wake);
        }
        if (!slots_left) break;
        t = now_ns();
        gpr_timespec dl = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                       gpr_time_from_nanos(wake > t ? wake - t : 0, GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_next(b->cq, dl, NULL);
        /* drain what is ready before sending again, timestamping each event as it arrives */
        while (ev.type == GRPC_OP_COMPLETE) {
            on_event(ev.tag, ev.success != 0, now_ns());
            ev = grpc_completion_queue_next(b->cq, gpr_inf_past(GPR_CLOCK_MONOTONIC), NULL);
        }
        if (ev.type == GRPC_QUEUE_SHUTDOWN) {
            st = PL_ERR(PL_E_INTERNAL, "the completion queue shut down");
            goto fail;
        }
    }
fail:
    for (int i = 0; i < conc; i++) {
        pl_free(ss[i].sent_end);
        pl_free(ss[i].sent_t);
    }
    pl_free(ss);
    return st;
}

static void fmt_num(char *buf, size_t n, double x, const char *none) {
    if (isnan(x))
        snprintf(buf, n, "%s", none);
    else
        snprintf(buf, n, "%.1f", x);
}

static void acc_reset(struct level_acc *acc) {
    pl_perf_samples_clear(&acc->lat);
    pl_perf_samples_clear(&acc->fin);
    pl_perf_samples_clear(&acc->ep);
    acc->slowest_s = 0;
    acc->streams = acc->errors = acc->finals = 0;
    acc->first_code = GRPC_STATUS_OK;
    acc->first_msg[0] = acc->text[0] = '\0';
}

/* Print (and write to cf) one level's row. Returns whether it stayed real time. */
static bool report_level(struct bench *b, int conc, FILE *cf, const char *rpc) {
    const struct opts *o = b->o;
    struct level_acc *acc = &b->acc;
    double p50 = pl_perf_samples_pct(&acc->lat, 50), p90 = pl_perf_samples_pct(&acc->lat, 90);
    double p99 = pl_perf_samples_pct(&acc->lat, 99);
    double f50 = pl_perf_samples_pct(&acc->fin, 50), fmax = pl_perf_samples_max(&acc->fin);
    double e50 = pl_perf_samples_pct(&acc->ep, 50), emax = pl_perf_samples_max(&acc->ep);
    struct pl_perf_level_summary sum = {
        .paced = o->paced,
        .streams = acc->streams,
        .errors = acc->errors,
        .finals = acc->finals,
        .slowest_s = acc->slowest_s,
        .audio_s = b->audio_s,
        .chunk_s = o->chunk_ms / 1000.0,
        .p99_ms = p99,
        .rt_p99_ms = o->rt_p99_ms,
        .rt_margin_s = o->rt_margin_s,
    };
    bool rt = pl_perf_level_realtime(&sum);
    const char *rts = o->paced ? (rt ? "yes" : "no") : "-";
    char s50[32], s90[32], s99[32], sf50[32], sfmax[32], se50[32], semax[32];
    fmt_num(s50, sizeof s50, p50, "-");
    fmt_num(s90, sizeof s90, p90, "-");
    fmt_num(s99, sizeof s99, p99, "-");
    fmt_num(sf50, sizeof sf50, f50, "-");
    fmt_num(sfmax, sizeof sfmax, fmax, "-");
    fmt_num(se50, sizeof se50, e50, "-");
    printf("%-10s %5d %7ld %6ld %8zu %8s %8s %8s %8s %8s %7ld %8s %9.2f %4s\n",
           o->label ? o->label : "-", conc, acc->streams, acc->errors, acc->lat.n, s50, s90, s99,
           sf50, sfmax, acc->finals, se50, acc->slowest_s, rts);
    if (acc->errors)
        printf("# %ld stream(s) failed; first: status %d (%s): %s\n", acc->errors,
               (int)acc->first_code, pl_perf_status_name(acc->first_code), acc->first_msg);
    if (acc->finals < acc->streams - acc->errors)
        printf("# %ld stream(s) ended without a final result covering the audio\n",
               acc->streams - acc->errors - acc->finals);
    if (acc->text[0]) printf("# a final: \"%s\"\n", acc->text);
    if (cf) {
        fmt_num(s50, sizeof s50, p50, "");
        fmt_num(s90, sizeof s90, p90, "");
        fmt_num(s99, sizeof s99, p99, "");
        fmt_num(sf50, sizeof sf50, f50, "");
        fmt_num(sfmax, sizeof sfmax, fmax, "");
        fmt_num(se50, sizeof se50, e50, "");
        fmt_num(semax, sizeof semax, emax, "");
        fprintf(cf, "%s,%s,%d,%ld,%ld,%.3f,%d,%d,%zu,%s,%s,%s,%s,%s,%ld,%zu,%s,%s,%.3f,%s\n",
                o->label ? o->label : "", rpc, conc, acc->streams, acc->errors, b->audio_s,
                o->chunk_ms, o->paced ? 1 : 0, acc->lat.n, s50, s90, s99, sf50, sfmax, acc->finals,
                acc->ep.n, se50, semax, acc->slowest_s, o->paced ? (rt ? "1" : "0") : "");
        fflush(cf);
    }
    fflush(stdout);
    return rt;
}

int pl_perf_stream_main(int argc, char **argv) {
    struct opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : 2;
    const struct pl_rpc_info *info = pl_perf_rpc_resolve(o.rpc);
    if (!info) {
        fprintf(stderr, "parley perf: unknown rpc %s\n", o.rpc);
        return 2;
    }
    if (strcmp(info->path, "/nvidia.riva.asr.RivaSpeechRecognition/StreamingRecognize") != 0) {
        fprintf(stderr,
                "parley perf: --stream measures StreamingRecognize, not %s (unary rpcs: "
                "parley perf without --stream)\n",
                info->path);
        return 2;
    }
    /* the concurrency list, checked before anything runs */
    int levels[256], n_levels = 0;
    for (const char *p = o.conc_list;;) {
        char *end;
        long c = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',') || c < 1 || c > 10000 || n_levels == 256) {
            fprintf(stderr, "parley perf: bad --concurrency %s (1..10000, comma-separated)\n",
                    o.conc_list);
            return 2;
        }
        levels[n_levels++] = (int)c;
        if (!*end) break;
        p = end + 1;
    }
    uint8_t *pcm = NULL;
    size_t n_pcm = 0;
    if (load_audio(o.audio, &pcm, &n_pcm) != PL_OK) {
        fprintf(stderr, "parley perf: %s: %s\n", o.audio, pl_last_error());
        return 2;
    }
    if (o.timeout_s <= 0) o.timeout_s = (double)n_pcm / BYTES_PER_S + 60;

    struct bench b;
    memset(&b, 0, sizeof b);
    b.o = &o;
    b.config = grpc_empty_slice();
    FILE *cf = NULL;
    char auth[512];
    grpc_init();
    b.method = grpc_slice_from_static_string(info->path);
    if (prepare(&b, pcm, n_pcm) != PL_OK) {
        fprintf(stderr, "parley perf: %s\n", pl_last_error());
        rc = 2;
        goto done;
    }
    if (pl_perf_channel_create(o.target, o.use_ssl, o.ssl_cert, &b.ch) != PL_OK) {
        fprintf(stderr, "parley perf: %s\n", pl_last_error());
        rc = 2;
        goto done;
    }
    b.cq = grpc_completion_queue_create_for_next(NULL);
    if (o.api_key) {
        snprintf(auth, sizeof auth, "Bearer %s", o.api_key);
        b.auth.key = grpc_slice_from_static_string("authorization");
        b.auth.value = grpc_slice_from_copied_string(auth);
        b.n_auth = 1;
    }
    if (o.csv) {
        cf = fopen(o.csv, "w");
        if (!cf) {
            fprintf(stderr, "parley perf: cannot write %s\n", o.csv);
            rc = 2;
            goto done;
        }
        fprintf(cf, "label,rpc,concurrency,streams,errors,audio_s,chunk_ms,paced,results,p50_ms,"
                    "p90_ms,p99_ms,final_p50_ms,final_max_ms,finals,endpoint_finals,"
                    "endpoint_final_p50_ms,endpoint_final_max_ms,slowest_stream_s,realtime\n");
    }
    printf("# target %s%s rpc %s\n", o.target, o.use_ssl || o.ssl_cert ? " (TLS)" : "", info->path);
    printf("# audio %s: %.2f s at 16 kHz in %zu chunks of %d ms, %s; interim %s, punctuation "
           "%s, language %s; ",
           o.audio, b.audio_s, b.n_chunks, o.chunk_ms,
           o.paced ? "paced in real time" : "as fast as possible", o.interim ? "on" : "off",
           o.punct ? "on" : "off", o.language);
    if (o.duration_s > 0)
        printf("%.1f s per level\n", o.duration_s);
    else
        printf("%ld stream(s) per slot\n", o.iterations);
    if (o.ramp_s >= 0 || o.warmup_s > 0)
        printf("# first streams of the N slots spread over %.2f s; measured from %.1f s on\n",
               o.ramp_s >= 0 ? o.ramp_s : o.chunk_ms / 1000.0, o.warmup_s);
    printf("# latencies in ms: chunk (interim results) p50/p90/p99, final after the half-close, "
           "endpoint finals; slowest stream in s\n");
    printf("%-10s %5s %7s %6s %8s %8s %8s %8s %8s %8s %7s %8s %9s %4s\n", "label", "conc",
           "streams", "errors", "results", "p50", "p90", "p99", "fin_p50", "fin_max", "finals",
           "ep_p50", "slowest_s", "rt");
    fflush(stdout);
    int best = 0;
    for (int i = 0; i < n_levels; i++) {
        acc_reset(&b.acc);
        if (run_level(&b, levels[i]) != PL_OK) {
            fprintf(stderr, "parley perf: %s\n", pl_last_error());
            rc = 1;
            break;
        }
        if (report_level(&b, levels[i], cf, info->rpc) && levels[i] > best) best = levels[i];
        if (b.acc.errors) rc = 1;
    }
    if (o.paced) printf("largest real-time N: %d\n", best);
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        double l1, l5, l15;
        if (fscanf(la, "%lf %lf %lf", &l1, &l5, &l15) == 3)
            printf("load average: %.2f %.2f %.2f\n", l1, l5, l15);
        fclose(la);
    }
done:
    if (cf) fclose(cf);
    if (b.n_auth) grpc_slice_unref(b.auth.value);
    for (size_t i = 0; b.chunks && i < b.n_chunks; i++) grpc_slice_unref(b.chunks[i]);
    pl_free(b.chunks);
    pl_free(b.chunk_end);
    grpc_slice_unref(b.config);
    pl_perf_samples_deinit(&b.acc.lat);
    pl_perf_samples_deinit(&b.acc.fin);
    pl_perf_samples_deinit(&b.acc.ep);
    if (b.ch) grpc_channel_destroy(b.ch);
    if (b.cq) {
        grpc_completion_queue_shutdown(b.cq);
        while (grpc_completion_queue_next(b.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN) {
        }
        grpc_completion_queue_destroy(b.cq);
    }
    grpc_shutdown();
    pl_free(pcm);
    return rc;
}
