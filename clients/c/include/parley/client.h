/*
 * parley/client.h - libparley-client, the C SDK of Parley.
 *
 * One header, plain C11, no gRPC or protobuf types: a client handle (struct pl_client) holds a
 * gRPC channel to the gateway; each call below builds the request, waits for the answer and
 * returns it as plain C structs. Link with `pkg-config --cflags --libs parley-client`.
 *
 *     struct pl_client_opts o = {.target = "127.0.0.1:50051"};
 *     struct pl_client *c;
 *     if (pl_client_open(&o, &c) != PL_OK) { fprintf(stderr, "%s\n", pl_last_error()); ... }
 *     char *text;
 *     if (pl_client_punctuate(c, "hello world how are you", NULL, &text) == PL_OK) {
 *         puts(text);
 *         pl_client_free(text);
 *     }
 *     pl_client_close(c);
 *
 * Errors. Every call that can fail returns a pl_status (status.h: PL_OK, PL_E_INVALID_ARG,
 * PL_E_NOT_FOUND, PL_E_UNAVAILABLE, PL_E_TIMEOUT, ...). On failure out-params are set to NULL,
 * pl_last_error() gives the message ("AnalyzeIntent: NOT_FOUND: model 'x' is not loaded
 * (...)") and pl_client_last_grpc_status() the gRPC status code the server answered (-1 when
 * the failure was local: a bad argument, an unreadable file, out of memory). Both are
 * per thread and kept until the next failure on that thread. The status of a failed call is
 * the gRPC code mapped to the nearest pl_status (see pl_client_status_of_grpc()).
 *
 * Threads. A struct pl_client may be used by several threads at once (each call has its own
 * completion queue on the shared channel). A struct pl_client_stream belongs to one thread
 * at a time; its callbacks run on the thread that called the stream function that received
 * the message (send, poll, finish), never on a thread of the library's.
 *
 * Callbacks return 0 to go on; any other value cancels the call, which then returns
 * PL_E_CANCELLED. Everything a callback receives is borrowed for the callback's duration.
 */
#ifndef PARLEY_CLIENT_H
#define PARLEY_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PL_CLIENT_VERSION "0.1.0"

/* ------------------------------------------------------------------ connection */

struct pl_client;        /* opaque: a channel to one gateway */
struct pl_client_stream; /* opaque: one bidirectional call (streaming ASR, TTS, Converse) */

struct pl_client_opts {
    const char *target;      /* "host:port" of the gateway; NULL = "127.0.0.1:50051" */
    const char *api_key;     /* NULL = none; else sent as "authorization: Bearer KEY" */
    bool tls;                /* TLS with the system's CA certificates */
    const char *tls_ca_file; /* PEM CA bundle to verify the gateway with; implies tls */
    /* Host name the certificate must carry when it differs from target's (tests); NULL. */
    const char *tls_server_name;
    int timeout_ms;          /* deadline of each call; 0 = 60000; streams: of the whole call */
};

/*
 * Make a client for the gateway opts describes. Connecting is lazy: a gateway that is not
 * there shows as PL_E_UNAVAILABLE on the first call. OUT: *out (caller owns;
 * pl_client_close). Errors: PL_E_INVALID_ARG (opts NULL, an API key with a character HTTP/2
 * metadata cannot carry), PL_E_IO (tls_ca_file unreadable), PL_E_NOMEM.
 */
pl_status pl_client_open(const struct pl_client_opts *opts, struct pl_client **out);

/* Close the channel and free c; NULL is a no-op. No call on c may be in flight. */
void pl_client_close(struct pl_client *c);

/* gRPC status code of the last failed call on this thread (0..16), -1 when that failure was
 * local (no call was made, or the reply could not be decoded). */
int pl_client_last_grpc_status(void);

/* The pl_status a gRPC status code maps to: OK -> PL_OK, INVALID_ARGUMENT, FAILED_PRECONDITION,
 * OUT_OF_RANGE, UNAUTHENTICATED, PERMISSION_DENIED -> PL_E_INVALID_ARG, NOT_FOUND ->
 * PL_E_NOT_FOUND, UNAVAILABLE -> PL_E_UNAVAILABLE, DEADLINE_EXCEEDED -> PL_E_TIMEOUT,
 * CANCELLED -> PL_E_CANCELLED, RESOURCE_EXHAUSTED -> PL_E_EXHAUSTED, UNIMPLEMENTED ->
 * PL_E_UNSUPPORTED, anything else -> PL_E_INTERNAL. */
pl_status pl_client_status_of_grpc(int grpc_code);

/* Free a string a call returned (pl_client_punctuate); NULL is a no-op. */
void pl_client_free(void *p);

/* ------------------------------------------------------------------ health */

/* grpc.health.v1 serving status (the same numbers as HealthCheckResponse.ServingStatus). */
enum pl_client_health {
    PL_CLIENT_HEALTH_UNKNOWN = 0,
    PL_CLIENT_HEALTH_SERVING = 1,
    PL_CLIENT_HEALTH_NOT_SERVING = 2,
    PL_CLIENT_HEALTH_SERVICE_UNKNOWN = 3,
};

/*
 * grpc.health.v1.Health/Check of service on the gateway: "" or NULL = the gateway itself
 * (SERVING while it is connected to NATS), a full gRPC service name
 * ("nvidia.riva.asr.RivaSpeechRecognition") = whether a worker of that service answers.
 * Needs the API key when the gateway has keys. OUT: *out (UNKNOWN on failure). Errors:
 * PL_E_UNAVAILABLE (no gateway there), PL_E_INVALID_ARG (the key was refused:
 * pl_client_last_grpc_status() 16), PL_E_NOT_FOUND (a service the gateway does not know),
 * PL_E_TIMEOUT.
 */
pl_status pl_client_health(struct pl_client *c, const char *service,
                           enum pl_client_health *out);

/* "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN" or "UNKNOWN" (static; never free). */
const char *pl_client_health_str(enum pl_client_health h);

/* ------------------------------------------------------------------ speech recognition */

enum pl_client_encoding {
    PL_CLIENT_ENC_AUTO = 0,  /* recognition: a WAV/FLAC/Ogg file, header included; synthesis
                                and dialog replies: LINEAR16 */
    PL_CLIENT_ENC_LINEAR16 = 1, /* raw 16-bit little-endian samples */
    PL_CLIENT_ENC_FLAC = 2,
    PL_CLIENT_ENC_MULAW = 3,
    PL_CLIENT_ENC_OGGOPUS = 4,
    PL_CLIENT_ENC_ALAW = 20,
};

struct pl_client_asr_config {
    const char *model;     /* acoustic model; NULL = the server's default */
    const char *language;  /* NULL = "en-US" */
    enum pl_client_encoding encoding; /* AUTO: the audio has a header (WAV is what streams) */
    int sample_rate_hz;    /* raw audio only */
    int channels;          /* raw audio only; 0 = 1 */
    bool punctuation;      /* automatic punctuation (parley-nlu) */
    bool word_offsets;     /* words with times in each result */
    bool interim_results;  /* streaming: interim results too, not only finals */
};

struct pl_client_word {
    const char *word;
    int start_ms, end_ms;
    float confidence;
};

/* One result: the best alternative of one utterance (offline), or of the utterance being
 * spoken (streaming; interim while is_final is false). */
struct pl_client_asr_result {
    const char *transcript;
    float confidence;        /* finals */
    bool is_final;           /* offline: always true */
    float stability;         /* interim: 0..1 */
    float audio_processed_s; /* seconds of audio the result covers */
    int channel;
    const struct pl_client_word *words; /* n_words of them when word_offsets */
    size_t n_words;
};

struct pl_client_transcript {
    struct pl_client_asr_result *results; /* one per utterance */
    size_t n_results;
    void *priv; /* the library's */
};

/*
 * Recognize: audio[0..n) (a whole file, header included, or raw samples as cfg says) in one
 * request. cfg NULL = defaults. OUT: *out (caller owns; pl_client_transcript_destroy).
 * Errors: the call's (INVALID_ARGUMENT audio or config, NOT_FOUND model, ...), PL_E_NOMEM.
 */
pl_status pl_client_recognize(struct pl_client *c, const struct pl_client_asr_config *cfg,
                              const void *audio, size_t n, struct pl_client_transcript **out);
void pl_client_transcript_destroy(struct pl_client_transcript *t);

/* Called with each streaming result (interim and final). */
typedef int (*pl_client_asr_cb)(void *ud, const struct pl_client_asr_result *r);

/*
 * Open a StreamingRecognize call: feed audio with pl_client_stream_send_audio (a WAV's header
 * rides in the first chunk; or raw audio as cfg says), end with pl_client_stream_finish.
 * cb gets every result as it arrives. OUT: *out (caller owns; pl_client_stream_destroy).
 */
pl_status pl_client_recognize_stream_open(struct pl_client *c,
                                          const struct pl_client_asr_config *cfg,
                                          pl_client_asr_cb cb, void *ud,
                                          struct pl_client_stream **out);

/* Stream audio[0..n) in chunks of chunk_ms of audio (as fast as the server takes them) and
 * finish: open + send + finish in one call. */
pl_status pl_client_recognize_streaming(struct pl_client *c,
                                        const struct pl_client_asr_config *cfg,
                                        const void *audio, size_t n, int chunk_ms,
                                        pl_client_asr_cb cb, void *ud);

/* ------------------------------------------------------------------ speech synthesis */

struct pl_client_tts_config {
    const char *voice;    /* NULL = the server's default */
    const char *language; /* NULL = "en-US" */
    int sample_rate_hz;   /* 0 = 22050 */
    enum pl_client_encoding encoding; /* AUTO = LINEAR16; MULAW, ALAW, OGGOPUS */
};

struct pl_client_audio {
    uint8_t *data; /* raw samples (no header) as encoding says, or Ogg pages */
    size_t n;
    int sample_rate_hz;
    enum pl_client_encoding encoding;
};

/* Synthesize text in one call. OUT: *out (caller owns; pl_client_audio_destroy). */
pl_status pl_client_synthesize(struct pl_client *c, const struct pl_client_tts_config *cfg,
                               const char *text, struct pl_client_audio **out);
void pl_client_audio_destroy(struct pl_client_audio *a);

/* Write a as a WAV file (LINEAR16, MULAW, ALAW; Ogg/Opus is written as it is). Errors:
 * PL_E_IO naming the file. */
pl_status pl_client_audio_write_wav(const struct pl_client_audio *a, const char *path);

/* Called with each chunk of synthesized audio as the server makes it. */
typedef int (*pl_client_audio_cb)(void *ud, const void *audio, size_t n);

/* SynthesizeOnline: text sent as one request, cb gets the audio chunk by chunk. */
pl_status pl_client_synthesize_stream(struct pl_client *c, const struct pl_client_tts_config *cfg,
                                      const char *text, pl_client_audio_cb cb, void *ud);

/* SynthesizeOnline with several requests on one call: send each with
 * pl_client_stream_send_text, then pl_client_stream_finish. OUT: *out (caller owns). */
pl_status pl_client_synthesize_stream_open(struct pl_client *c,
                                           const struct pl_client_tts_config *cfg,
                                           pl_client_audio_cb cb, void *ud,
                                           struct pl_client_stream **out);

/* ------------------------------------------------------------------ language understanding */

struct pl_client_slot {
    const char *name;  /* slot label ("city") */
    const char *value; /* the words that fill it ("boston") */
    float score;
    unsigned start, end; /* character offsets in the query: [start, end) */
};

struct pl_client_intent {
    const char *intent; /* "" when no intent was recognized */
    float score;
    const char *domain;
    struct pl_client_slot *slots;
    size_t n_slots;
    void *priv;
};

/* AnalyzeIntent of query. model: the domain / intent model (NULL = the server's default).
 * OUT: *out (caller owns; pl_client_intent_destroy). */
pl_status pl_client_analyze_intent(struct pl_client *c, const char *query, const char *model,
                                   struct pl_client_intent **out);
void pl_client_intent_destroy(struct pl_client_intent *r);

struct pl_client_entity {
    const char *text;  /* the token or entity */
    const char *label; /* best label ("LOC", "B-city", ...) */
    float score;
    unsigned start, end; /* character offsets in the text: [start, end) */
};

struct pl_client_entities {
    struct pl_client_entity *v;
    size_t n;
    void *priv;
};

/* ClassifyTokens of text (named entities with the NER model). model NULL = the server's token
 * classification model. OUT: *out (caller owns; pl_client_entities_destroy). */
pl_status pl_client_classify_tokens(struct pl_client *c, const char *text, const char *model,
                                    struct pl_client_entities **out);
/* AnalyzeEntities of text: entity spans (PER, LOC, ...) rather than per-word tags. */
pl_status pl_client_analyze_entities(struct pl_client *c, const char *text,
                                     struct pl_client_entities **out);
void pl_client_entities_destroy(struct pl_client_entities *e);

/* PunctuateText: text with case and punctuation restored. model NULL = the server's.
 * OUT: *out (caller owns; pl_client_free). */
pl_status pl_client_punctuate(struct pl_client *c, const char *text, const char *model,
                              char **out);

/* ------------------------------------------------------------------ question answering */

struct pl_client_answer {
    const char *answer; /* "" = no answer */
    float score;
};

struct pl_client_answers {
    struct pl_client_answer *v; /* best first */
    size_t n;
    void *priv;
};

/* NaturalQuery: answer question from context (NULL = from the server's knowledge base),
 * at most top_n answers (0 = 1). OUT: *out (caller owns; pl_client_answers_destroy). */
pl_status pl_client_natural_query(struct pl_client *c, const char *question, const char *context,
                                  unsigned top_n, struct pl_client_answers **out);
void pl_client_answers_destroy(struct pl_client_answers *a);

/* ------------------------------------------------------------------ dialog (Converse) */

struct pl_client_converse_config {
    const char *session_id; /* NULL = a new session (its id comes in every message) */
    const char *user_id;    /* ignored when the gateway knows the caller from its API key */
    const char *dialog;     /* dialog spec of a new session; NULL = the server's default */
    const char *context_id; /* NULL = the session's active context */
    bool include_nlu;       /* a PL_CLIENT_MSG_NLU message per user turn */
    bool interim_results;   /* audio: interim transcripts */
    /* Audio in (pl_client_stream_send_audio): true; the format as for recognition. */
    bool audio_in;
    enum pl_client_encoding in_encoding; /* AUTO = a WAV stream */
    int in_sample_rate_hz;
    bool server_endpointing; /* the server ends utterances on silence (else push-to-talk) */
    /* Replies as audio too (PL_CLIENT_MSG_BOT_AUDIO): true. */
    bool audio_out;
    int out_sample_rate_hz; /* 0 = the server's */
    const char *voice;
};

enum pl_client_msg_kind {
    PL_CLIENT_MSG_TRANSCRIPT = 1, /* what the user said: text, is_final, stability, confidence */
    PL_CLIENT_MSG_NLU = 2,        /* text, intent, score, slots */
    PL_CLIENT_MSG_BOT_TEXT = 3,   /* text, response_name, expects_input */
    PL_CLIENT_MSG_BOT_AUDIO = 4,  /* audio, n_audio, sample_rate_hz, is_last */
    PL_CLIENT_MSG_EVENT = 5,      /* event, text (detail), attributes */
};

/* Event numbers as parley.dialog.v1.EventType (docs/dialog.md). */
enum pl_client_event {
    PL_CLIENT_EVENT_SESSION_CREATED = 1,
    PL_CLIENT_EVENT_SESSION_ENDED = 2,
    PL_CLIENT_EVENT_CONTEXT_CREATED = 3,
    PL_CLIENT_EVENT_CONTEXT_SWITCHED = 4,
    PL_CLIENT_EVENT_CONTEXT_CLOSED = 5,
    PL_CLIENT_EVENT_SPEECH_STARTED = 6,
    PL_CLIENT_EVENT_END_OF_UTTERANCE = 7,
    PL_CLIENT_EVENT_SLOT_SET = 8,
    PL_CLIENT_EVENT_ACTION_STARTED = 9,
    PL_CLIENT_EVENT_ACTION_FINISHED = 10,
    PL_CLIENT_EVENT_TURN_COMPLETE = 11,
    PL_CLIENT_EVENT_ERROR = 12,
    PL_CLIENT_EVENT_REPLY_AUDIO_DONE = 13,
    PL_CLIENT_EVENT_REPLY_INTERRUPTED = 14,
    PL_CLIENT_EVENT_NO_SPEECH = 15, /* END_OF_UTTERANCE over audio without words */
};

struct pl_client_attr {
    const char *key, *value;
};

/* One message of a Converse call; fields not of its kind are zero. */
struct pl_client_converse_msg {
    enum pl_client_msg_kind kind;
    const char *session_id, *context_id;
    int turn;
    const char *text;          /* TRANSCRIPT, NLU (the utterance), BOT_TEXT, EVENT (detail) */
    bool is_final;             /* TRANSCRIPT */
    float stability, confidence;
    const char *intent;        /* NLU; "" = none recognized */
    float score;
    const struct pl_client_slot *slots;
    size_t n_slots;
    const char *response_name; /* BOT_TEXT */
    bool expects_input;
    const void *audio;         /* BOT_AUDIO */
    size_t n_audio;
    int sample_rate_hz;
    bool is_last;
    enum pl_client_event event; /* EVENT */
    const struct pl_client_attr *attrs;
    size_t n_attrs;
};

typedef int (*pl_client_converse_cb)(void *ud, const struct pl_client_converse_msg *m);

/* Open a Converse call: send text turns (pl_client_stream_send_text) or audio
 * (pl_client_stream_send_audio, pl_client_stream_end_utterance); pl_client_stream_finish ends
 * the call after the server has answered what was sent. OUT: *out (caller owns). */
pl_status pl_client_converse_open(struct pl_client *c, const struct pl_client_converse_config *cfg,
                                  pl_client_converse_cb cb, void *ud,
                                  struct pl_client_stream **out);

/* One text turn on its own Converse call: open, send text, finish. */
pl_status pl_client_converse_text(struct pl_client *c, const struct pl_client_converse_config *cfg,
                                  const char *text, pl_client_converse_cb cb, void *ud);

/* ------------------------------------------------------------------ streams */

/* Send n bytes of audio (StreamingRecognize, Converse). Waits until the previous message has
 * gone (running callbacks for what arrives meanwhile). Errors: PL_E_INVALID_ARG (a stream that
 * takes no audio, or already finished), the call's status when it has ended. */
pl_status pl_client_stream_send_audio(struct pl_client_stream *s, const void *audio, size_t n);

/* Send one text (Converse: a user turn; SynthesizeOnline: a request). */
pl_status pl_client_stream_send_text(struct pl_client_stream *s, const char *text);

/* Converse push-to-talk: the user stopped speaking (ControlInput END_OF_UTTERANCE). */
pl_status pl_client_stream_end_utterance(struct pl_client_stream *s);

/* Run callbacks for what has arrived, waiting up to timeout_ms (0: only what is there).
 * Returns PL_OK, or the call's status once it has ended with an error. */
pl_status pl_client_stream_poll(struct pl_client_stream *s, int timeout_ms);

/* Half-close, receive everything that is left (callbacks run) and return the call's status. */
pl_status pl_client_stream_finish(struct pl_client_stream *s);

/* Free s, cancelling the call when it is not finished; NULL is a no-op. */
void pl_client_stream_destroy(struct pl_client_stream *s);

#ifdef __cplusplus
}
#endif
#endif
