/*
 * parley-chat (`parley chat`): a text conversation with parley-dialog through the gateway, on
 * one Converse stream (gRPC C core).
 *
 *   parley chat [--user U] [--session S] [--dialog NAME] [--server HOST:PORT] [--api-key K]
 *               [--nlu] [--audio FILE [--reply-audio OUT.wav] [--reply-rate HZ] [--fast]]
 *
 * --audio FILE: one spoken turn instead of stdin. FILE (WAV, FLAC, ... anything libsndfile
 * reads; mixed down to mono) is streamed as raw LINEAR_PCM at its own rate in 100 ms chunks,
 * in real time (--fast: as fast as the stream takes it), then END_OF_UTTERANCE
 * (push-to-talk) and the half-close. Prints the transcripts ("you: TEXT"), with --nlu the
 * NLU result and the events, the reply ("bot: TEXT") and "[reply audio: S s, first chunk
 * M ms after END_OF_UTTERANCE]"; --reply-audio writes the reply audio (LINEAR_PCM at
 * --reply-rate, default 22050) as a 16-bit WAV file.
 *
 * Reads stdin line by line: each line is one user turn (sent as a `text` message; the reply
 * is printed when the turn's TURN_COMPLETE arrives), or a command: /contexts (ListContexts),
 * /switch ID (SwitchContext; a unique prefix of the id is enough), /history (GetHistory),
 * /quit. Prints "session: ID" first (a new session, or the one --session names, checked with
 * GetSession), every reply as "bot: TEXT", the context events of a turn (created, switched,
 * resumed, closed) compactly, and with --nlu the intent and NLU slots of each turn. On a
 * terminal it prompts "> "; otherwise it echoes each line as "> LINE", so a piped conversation
 * reads like a transcript.
 *
 * EOF, /quit or Ctrl-C end the conversation the way the protocol wants: half-close, then the
 * server's final status (a second Ctrl-C cancels). Exit status: 0 when the stream ended OK,
 * 1 when the server ended it with another status (printed with its message), 2 on bad usage.
 *
 * One thread, one completion queue: at most one send and one receive are outstanding; the
 * status is received from the start. Unary commands run on the same channel meanwhile.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "alloc.h"
#include "audio.h"
#include "client_grpc.h"
#include "util.h"
#include "parley/dialog/v1/dialog.pb-c.h"
#include "proto_util.h"
#include "chat_json.h"

#define SVC "/parley.dialog.v1.Dialog/"
#define UNARY_TIMEOUT_MS 10000

enum { T_STATUS = 1, T_SEND = 2, T_RECV = 3 };

struct chat {
    const char *server, *api_key, *tls_ca, *user, *dialog;
    bool nlu, tty, json;
    grpc_channel *ch;
    grpc_completion_queue *cq;
    grpc_call *call;
    struct pl_client_auth auth;
    grpc_metadata_array init_md, trail_md;
    grpc_status_code status;
    grpc_slice details;
    grpc_byte_buffer *in, *out;
    bool send_busy, recv_busy, recv_done, status_done, closed;
    bool created;   /* SESSION_CREATED arrived */
    bool turn_done; /* TURN_COMPLETE (or EVENT_ERROR) of the turn in flight arrived */
    char session_id[80];
    /* --audio */
    bool voice;
    uint8_t *reply;     /* reply audio so far (s16le at reply_rate) */
    size_t n_reply, cap_reply;
    int reply_rate, in_rate;
    int16_t *pcm; /* the file, mono s16 at in_rate */
    size_t n_pcm;
    bool fast;
    int64_t eou_us, first_audio_us;
};

static volatile sig_atomic_t interrupts;

static void on_sigint(int sig) {
    (void)sig;
    interrupts++;
}

static void usage(FILE *f) {
    fprintf(f, "usage: parley chat [--user U] [--session S] [--dialog NAME] [--server HOST:PORT]\n"
               "                   [--api-key K] [--tls-ca CA.pem] [--nlu] [--json]\n"
               "                   [--audio FILE [--reply-audio OUT.wav] [--reply-rate HZ] [--fast]]\n"
               "  each line of stdin is one turn; commands: /contexts, /switch ID, /history, "
               "/quit\n"
               "  --session S   continue session S (printed as \"session: S\" at the start)\n"
               "  --nlu         print each turn's intent and NLU slots\n"
               "  --api-key K   sent as 'authorization: Bearer K'\n"
               "  --tls-ca CA.pem  TLS, verifying the gateway with this CA certificate\n"
               "  --json        each message of a turn as one JSON line (type: transcript,\n"
               "                nlu, bot_text, bot_audio, event; a turn ends with TURN_COMPLETE)\n"
               "  --audio FILE  one spoken turn: stream FILE (real time; --fast: at once), print\n"
               "                the transcript and the reply; --reply-audio OUT.wav saves the\n"
               "                reply audio (--reply-rate HZ, default 22050)\n");
}

static const char *status_name(grpc_status_code code) {
    static const char *names[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT",
                                  "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
                                  "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                  "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
                                  "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
                                  "UNAUTHENTICATED"};
    return (unsigned)code < sizeof names / sizeof names[0] ? names[code] : "?";
}

static const char *event_name(int type) {
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&parley__dialog__v1__event_type__descriptor, type);
    return v ? v->name + (strncmp(v->name, "EVENT_", 6) ? 0 : 6) : "?";
}

/* The first 8 characters of an id: enough to tell contexts apart, and /switch takes them. */
static const char *short_id(const char *id, char buf[9]) {
    snprintf(buf, 9, "%s", id && *id ? id : "-");
    return buf;
}

/* ---- the stream ------------------------------------------------------------------------ */

static void print_nlu(const char *indent, const Parley__Dialog__V1__NluResult *n) {
    printf("%snlu: %s", indent, n->intent && n->intent->name ? n->intent->name : "(no intent)");
    if (n->intent) printf(" %.2f", n->intent->score);
    for (size_t i = 0; i < n->n_slots; i++)
        printf("%s%s=%s", i ? " " : "  slots: ", n->slots[i]->name, n->slots[i]->value);
    printf("\n");
}

static void print_event(struct chat *c, const Parley__Dialog__V1__ConverseResponse *r) {
    const Parley__Dialog__V1__DialogEvent *e = r->event;
    char id[9];
    if (e->type == PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_SESSION_CREATED) {
        snprintf(c->session_id, sizeof c->session_id, "%s", r->session_id ? r->session_id : "");
        c->created = true;
    }
    if (e->type == PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_TURN_COMPLETE ||
        e->type == PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_ERROR)
        c->turn_done = true;
    if (c->json) return; /* on_message printed it */
    switch (e->type) {
    case PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_SESSION_CREATED:
        break;
    case PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_CONTEXT_CREATED:
        printf("  [context %s created]\n", short_id(r->context_id, id));
        break;
    case PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_CONTEXT_SWITCHED:
        printf("  [context %s %s]\n", short_id(r->context_id, id),
               e->detail && strstr(e->detail, "resumed") ? "resumed" : "switched to");
        break;
    case PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_CONTEXT_CLOSED:
        printf("  [context %s closed]\n", short_id(r->context_id, id));
        break;
    case PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_TURN_COMPLETE:
        break;
    case PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_NO_SPEECH:
        printf("  [%s]\n", e->detail && *e->detail ? e->detail : "nothing was heard");
        break;
    case PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_ERROR:
        printf("  error: %s\n", e->detail ? e->detail : "");
        break;
    case PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_REPLY_AUDIO_DONE:
    case PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_REPLY_INTERRUPTED: {
        const char *ms = "?";
        for (size_t i = 0; i < e->n_attributes; i++)
            if (!strcmp(e->attributes[i]->key, "audio_ms")) ms = e->attributes[i]->value;
        printf("  [reply audio: %.2f s", atof(ms) / 1000.0);
        if (c->eou_us && c->first_audio_us)
            printf(", first chunk %.1f ms after END_OF_UTTERANCE",
                   (double)(c->first_audio_us - c->eou_us) / 1000.0);
        printf("%s]\n", e->type == PARLEY__DIALOG__V1__EVENT_TYPE__EVENT_REPLY_INTERRUPTED
                             ? ", interrupted" : "");
        break;
    }
    default:
        if (c->nlu) printf("  [%s %s]\n", event_name(e->type), e->detail ? e->detail : "");
    }
}

static void on_message(struct chat *c, grpc_byte_buffer *bb) {
    ProtobufCMessage *m = NULL;
    if (pl_client_unpack(bb, &parley__dialog__v1__converse_response__descriptor, &m) != PL_OK) {
        fprintf(stderr, "parley chat: a response is not a ConverseResponse\n");
        return;
    }
    Parley__Dialog__V1__ConverseResponse *r = (void *)m;
    if (c->json) pl_chat_print_json(r);
    switch (r->response_case) {
    case PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_NLU:
        if (c->nlu && !c->json) print_nlu("  ", r->nlu);
        break;
    case PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_BOT_TEXT:
        if (!c->json) printf("bot: %s\n", r->bot_text->text ? r->bot_text->text : "");
        break;
    case PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_EVENT:
        print_event(c, r);
        break;
    case PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_TRANSCRIPT:
        if (c->json) break;
        if (r->transcript->is_final) {
            if (r->transcript->text && *r->transcript->text) /* empty: NO_SPEECH follows */
                printf("you: %s\n", r->transcript->text);
        } else if (c->nlu) printf("  ~ %s\n", r->transcript->text);
        break;
    case PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_BOT_AUDIO: {
        const ProtobufCBinaryData *a = &r->bot_audio->audio;
        if (a->len && !c->first_audio_us) c->first_audio_us = pl_time_mono_us();
        if (c->n_reply + a->len > c->cap_reply) {
            size_t cap = (c->n_reply + a->len) * 2;
            uint8_t *p = pl_realloc(c->reply, cap);
            if (!p) break;
            c->reply = p;
            c->cap_reply = cap;
        }
        if (a->len) memcpy(c->reply + c->n_reply, a->data, a->len);
        c->n_reply += a->len;
        break;
    }
    default:
        break;
    }
    fflush(stdout);
    pl_proto_free(m);
}

static void post_recv(struct chat *c, bool with_md) {
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    if (with_md) {
        ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[n++].data.recv_initial_metadata.recv_initial_metadata = &c->init_md;
    }
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n++].data.recv_message.recv_message = &c->in;
    c->recv_busy = grpc_call_start_batch(c->call, ops, n, (void *)(intptr_t)T_RECV, NULL) ==
                   GRPC_CALL_OK;
    if (!c->recv_busy) c->recv_done = true;
}

/* Wait up to ms for one completion and account for it. */
static void pump_ms(struct chat *c, int ms) {
    gpr_timespec t = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                  gpr_time_from_millis(ms, GPR_TIMESPAN));
    grpc_event ev = grpc_completion_queue_next(c->cq, t, NULL);
    if (ev.type != GRPC_OP_COMPLETE) return;
    switch ((int)(intptr_t)ev.tag) {
    case T_SEND:
        c->send_busy = false;
        if (c->out) grpc_byte_buffer_destroy(c->out);
        c->out = NULL;
        break;
    case T_RECV:
        c->recv_busy = false;
        if (ev.success && c->in) {
            on_message(c, c->in);
            grpc_byte_buffer_destroy(c->in);
            c->in = NULL;
            post_recv(c, false);
        } else {
            c->recv_done = true;
        }
        break;
    case T_STATUS:
        c->status_done = true;
        break;
    }
}

static void pump(struct chat *c) { pump_ms(c, 200); }

static bool stream_over(const struct chat *c) {
    return c->status_done && !c->recv_busy && !c->send_busy;
}

static void half_close(struct chat *c) {
    while (c->send_busy && !stream_over(c)) pump(c);
    if (c->closed || c->status_done) return;
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    c->closed = true;
    c->send_busy = grpc_call_start_batch(c->call, &op, 1, (void *)(intptr_t)T_SEND, NULL) ==
                   GRPC_CALL_OK;
}

/* Pump until *flag is set (true) or the stream is over (false). The first Ctrl-C half-closes
 * (the turn in flight is still answered), the second cancels the call. */
static bool wait_for(struct chat *c, const bool *flag) {
    int seen = 0;
    while (!*flag) {
        if (stream_over(c)) return false;
        if (interrupts > seen) {
            seen = interrupts;
            if (seen == 1) half_close(c);
            else grpc_call_cancel(c->call, NULL);
        }
        pump(c);
    }
    return true;
}

static bool send_request(struct chat *c, const Parley__Dialog__V1__ConverseRequest *rq,
                         bool first) {
    while (c->send_busy && !stream_over(c)) pump(c);
    if (c->closed || c->status_done) return false;
    if (!(c->out = pl_client_pack(&rq->base))) return false;
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    if (first) {
        ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[n].data.send_initial_metadata.count = c->auth.n;
        ops[n++].data.send_initial_metadata.metadata = pl_client_auth_md(&c->auth);
    }
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = c->out;
    c->send_busy = grpc_call_start_batch(c->call, ops, n, (void *)(intptr_t)T_SEND, NULL) ==
                   GRPC_CALL_OK;
    if (!c->send_busy) {
        grpc_byte_buffer_destroy(c->out);
        c->out = NULL;
    }
    return c->send_busy;
}

/* Open the Converse call and send the config (the session to continue, or a new one). */
static void open_stream(struct chat *c, const char *session) {
    c->call = grpc_channel_create_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq,
                                       grpc_slice_from_static_string(SVC "Converse"), NULL,
                                       gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op.data.recv_status_on_client.trailing_metadata = &c->trail_md;
    op.data.recv_status_on_client.status = &c->status;
    op.data.recv_status_on_client.status_details = &c->details;
    if (grpc_call_start_batch(c->call, &op, 1, (void *)(intptr_t)T_STATUS, NULL) != GRPC_CALL_OK)
        c->status_done = true;
    Parley__Dialog__V1__ConverseConfig cfg = PARLEY__DIALOG__V1__CONVERSE_CONFIG__INIT;
    cfg.session_id = (char *)(session ? session : "");
    cfg.user_id = (char *)c->user;
    cfg.dialog = (char *)c->dialog;
    cfg.include_nlu = c->nlu || c->json;
    Parley__Dialog__V1__AudioInputConfig in = PARLEY__DIALOG__V1__AUDIO_INPUT_CONFIG__INIT;
    Parley__Dialog__V1__AudioOutputConfig out = PARLEY__DIALOG__V1__AUDIO_OUTPUT_CONFIG__INIT;
    if (c->voice) { /* push-to-talk: raw PCM at the file's rate; replies as raw PCM */
        in.encoding = NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM;
        in.sample_rate_hertz = c->in_rate;
        out.encoding = NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM;
        out.sample_rate_hz = c->reply_rate;
        cfg.input_audio = &in;
        cfg.output_audio = &out;
        cfg.interim_results = c->nlu;
    }
    Parley__Dialog__V1__ConverseRequest rq = PARLEY__DIALOG__V1__CONVERSE_REQUEST__INIT;
    rq.request_case = PARLEY__DIALOG__V1__CONVERSE_REQUEST__REQUEST_CONFIG;
    rq.config = &cfg;
    send_request(c, &rq, true);
    post_recv(c, true);
}

/* ---- unary commands ------------------------------------------------------------------- */

/* Call rpc with message rq; the unpacked response of type rd, or NULL (status printed). */
static ProtobufCMessage *unary(struct chat *c, const char *rpc, const ProtobufCMessage *rq,
                               const ProtobufCMessageDescriptor *rd) {
    uint8_t *req = NULL, *resp = NULL;
    size_t len = 0, resp_len = 0;
    char path[128];
    snprintf(path, sizeof path, SVC "%s", rpc);
    if (pl_proto_pack(rq, &req, &len) != PL_OK) return NULL;
    grpc_status_code st = pl_client_unary(c->ch, "chat", c->server, path, c->api_key, req, len,
                                          UNARY_TIMEOUT_MS, &resp, &resp_len);
    pl_free(req);
    ProtobufCMessage *m = NULL;
    if (st == GRPC_STATUS_OK && pl_proto_unpack(rd, resp, resp_len, &m) != PL_OK)
        fprintf(stderr, "parley chat: %s: the response does not parse\n", rpc);
    pl_free(resp);
    return m;
}

static Parley__Dialog__V1__ListContextsResponse *list_contexts(struct chat *c) {
    Parley__Dialog__V1__ListContextsRequest rq = PARLEY__DIALOG__V1__LIST_CONTEXTS_REQUEST__INIT;
    rq.session_id = c->session_id;
    rq.user_id = (char *)c->user;
    return (void *)unary(c, "ListContexts", &rq.base,
                         &parley__dialog__v1__list_contexts_response__descriptor);
}

static void print_context(const Parley__Dialog__V1__Context *x, const char *mark) {
    printf("%s %s  %-12s turns %d", mark, x->context_id,
           x->current_intent && *x->current_intent ? x->current_intent : "(idle)", x->turn_count);
    if (x->name && *x->name) printf("  \"%s\"", x->name);
    for (size_t i = 0; i < x->n_slots; i++)
        printf("%s%s=%s", i ? ", " : "  ", x->slots[i]->key, x->slots[i]->value);
    printf("\n");
}

static void cmd_contexts(struct chat *c) {
    Parley__Dialog__V1__ListContextsResponse *r = list_contexts(c);
    if (!r) return;
    for (size_t i = 0; i < r->n_contexts; i++)
        print_context(r->contexts[i],
                      strcmp(r->contexts[i]->context_id, r->active_context_id) ? " " : "*");
    pl_proto_free(&r->base);
}

static void cmd_switch(struct chat *c, const char *want) {
    while (*want == ' ') want++;
    if (!*want) {
        printf("  usage: /switch ID (see /contexts)\n");
        return;
    }
    /* a prefix of an open context's id names it when it is unique */
    char id[80];
    snprintf(id, sizeof id, "%s", want);
    Parley__Dialog__V1__ListContextsResponse *l = list_contexts(c);
    if (!l) return;
    int hits = 0;
    for (size_t i = 0; i < l->n_contexts; i++)
        if (!strncmp(l->contexts[i]->context_id, want, strlen(want))) {
            snprintf(id, sizeof id, "%s", l->contexts[i]->context_id);
            hits++;
        }
    pl_proto_free(&l->base);
    if (hits > 1) {
        printf("  '%s' names %d contexts; give more of the id\n", want, hits);
        return;
    }
    Parley__Dialog__V1__SwitchContextRequest rq = PARLEY__DIALOG__V1__SWITCH_CONTEXT_REQUEST__INIT;
    rq.session_id = c->session_id;
    rq.context_id = id;
    rq.user_id = (char *)c->user;
    Parley__Dialog__V1__SwitchContextResponse *r = (void *)unary(
        c, "SwitchContext", &rq.base, &parley__dialog__v1__switch_context_response__descriptor);
    if (!r) return;
    char prev[9];
    printf("  [context %s active; was %s]\n", r->context ? r->context->context_id : "?",
           short_id(r->previous_context_id, prev));
    pl_proto_free(&r->base);
}

static void print_history_event(const Parley__Dialog__V1__HistoryEvent *e) {
    char id[9];
    printf("  #%-4lld %s t%-3d ", (long long)e->seq, short_id(e->context_id, id), e->turn);
    switch (e->payload_case) {
    case PARLEY__DIALOG__V1__HISTORY_EVENT__PAYLOAD_USER_TEXT:
        printf("user: %s\n", e->user_text);
        break;
    case PARLEY__DIALOG__V1__HISTORY_EVENT__PAYLOAD_NLU:
        print_nlu("", e->nlu);
        break;
    case PARLEY__DIALOG__V1__HISTORY_EVENT__PAYLOAD_SLOT_SET:
        printf("slot: %s=%s\n", e->slot_set->name, e->slot_set->value);
        break;
    case PARLEY__DIALOG__V1__HISTORY_EVENT__PAYLOAD_ACTION: {
        const Parley__Dialog__V1__ActionRecord *a = e->action;
        printf("action: %s %s (%lld ms)%s%s\n", a->name, a->ok ? "ok" : "failed",
               (long long)a->duration_ms, a->result && *a->result ? ": " : "",
               a->ok ? a->result : a->error);
        break;
    }
    case PARLEY__DIALOG__V1__HISTORY_EVENT__PAYLOAD_BOT_TEXT:
        printf("bot: %s\n", e->bot_text->text);
        break;
    case PARLEY__DIALOG__V1__HISTORY_EVENT__PAYLOAD_EVENT:
        printf("event: %s %s\n", event_name(e->event->type),
               e->event->detail ? e->event->detail : "");
        break;
    default:
        printf("?\n");
    }
}

static void cmd_history(struct chat *c) {
    int64_t after = 0;
    for (;;) {
        Parley__Dialog__V1__GetHistoryRequest rq = PARLEY__DIALOG__V1__GET_HISTORY_REQUEST__INIT;
        rq.session_id = c->session_id;
        rq.user_id = (char *)c->user;
        rq.after_seq = after;
        rq.page_size = 500;
        Parley__Dialog__V1__GetHistoryResponse *r = (void *)unary(
            c, "GetHistory", &rq.base, &parley__dialog__v1__get_history_response__descriptor);
        if (!r) return;
        for (size_t i = 0; i < r->n_events; i++) {
            print_history_event(r->events[i]);
            after = r->events[i]->seq;
        }
        bool more = r->more && r->n_events > 0;
        pl_proto_free(&r->base);
        if (!more) break;
    }
}

/* ---- the loop ----------------------------------------------------------------------------- */

/* One line of input: a command, or a turn. false when the conversation should end. */
static bool on_line(struct chat *c, char *line) {
    if (!strcmp(line, "/quit") || !strcmp(line, "/exit")) return false;
    if (!strcmp(line, "/contexts")) cmd_contexts(c);
    else if (!strncmp(line, "/switch", 7) && (line[7] == ' ' || !line[7])) cmd_switch(c, line + 7);
    else if (!strcmp(line, "/history")) cmd_history(c);
    else if (line[0] == '/' && line[1] != '/')
        printf("  commands: /contexts, /switch ID, /history, /quit (start a text with // to "
               "send a '/')\n");
    else {
        Parley__Dialog__V1__TextInput t = PARLEY__DIALOG__V1__TEXT_INPUT__INIT;
        t.text = line[0] == '/' ? line + 1 : line;
        Parley__Dialog__V1__ConverseRequest rq = PARLEY__DIALOG__V1__CONVERSE_REQUEST__INIT;
        rq.request_case = PARLEY__DIALOG__V1__CONVERSE_REQUEST__REQUEST_TEXT;
        rq.text = &t;
        c->turn_done = false;
        if (!send_request(c, &rq, false) || !wait_for(c, &c->turn_done)) return false;
    }
    fflush(stdout);
    return true;
}

static bool check_session(struct chat *c, const char *sid) {
    Parley__Dialog__V1__GetSessionRequest rq = PARLEY__DIALOG__V1__GET_SESSION_REQUEST__INIT;
    rq.session_id = (char *)sid;
    rq.user_id = (char *)c->user;
    Parley__Dialog__V1__GetSessionResponse *r = (void *)unary(
        c, "GetSession", &rq.base, &parley__dialog__v1__get_session_response__descriptor);
    if (!r) return false;
    bool ok = r->session && r->session->state == PARLEY__DIALOG__V1__SESSION_STATE__SESSION_STATE_ACTIVE;
    if (!ok) fprintf(stderr, "parley chat: session %s has ended; start a new one\n", sid);
    else snprintf(c->session_id, sizeof c->session_id, "%s", r->session->session_id);
    pl_proto_free(&r->base);
    return ok;
}

/* Read stdin until EOF, /quit, Ctrl-C or the end of the stream. */
static void repl(struct chat *c) {
    if (!c->json) printf("session: %s\n", c->session_id);
    if (c->tty)
        fprintf(stderr, "(type a message; /contexts, /switch ID, /history, /quit; Ctrl-D ends)\n");
    fflush(stdout);
    char *line = NULL;
    size_t cap = 0;
    for (;;) {
        if (c->tty) {
            printf("> ");
            fflush(stdout);
        }
        errno = 0;
        ssize_t n = interrupts ? -1 : getline(&line, &cap, stdin);
        if (n < 0) {
            if (errno == EINTR || interrupts) fprintf(stderr, "\nparley chat: interrupted\n");
            else if (c->tty) printf("\n");
            break;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) continue;
        if (!c->tty && !c->json) printf("> %s\n", p);
        if (!on_line(c, p)) break;
    }
    free(line);
}

/* --audio: the file in 100 ms chunks (paced by the clock unless --fast), END_OF_UTTERANCE. */
static void speak_file(struct chat *c) {
    if (!c->json) printf("session: %s\n", c->session_id);
    fflush(stdout);
    size_t chunk = (size_t)c->in_rate / 10;
    int64_t t0 = pl_time_mono_us();
    for (size_t i = 0, k = 0; i < c->n_pcm && !interrupts; i += chunk, k++) {
        size_t n = c->n_pcm - i < chunk ? c->n_pcm - i : chunk;
        Parley__Dialog__V1__ConverseRequest rq = PARLEY__DIALOG__V1__CONVERSE_REQUEST__INIT;
        rq.request_case = PARLEY__DIALOG__V1__CONVERSE_REQUEST__REQUEST_AUDIO_CONTENT;
        rq.audio_content.data = (uint8_t *)(c->pcm + i);
        rq.audio_content.len = n * sizeof *c->pcm;
        if (!send_request(c, &rq, false)) return;
        int64_t due = t0 + (int64_t)(k + 1) * 100000;
        while (!c->fast && pl_time_mono_us() < due && !stream_over(c))
            pump_ms(c, (int)((due - pl_time_mono_us()) / 1000) + 1);
    }
    Parley__Dialog__V1__ControlInput ci = PARLEY__DIALOG__V1__CONTROL_INPUT__INIT;
    ci.kind = PARLEY__DIALOG__V1__CONTROL_INPUT__KIND__END_OF_UTTERANCE;
    Parley__Dialog__V1__ConverseRequest rq = PARLEY__DIALOG__V1__CONVERSE_REQUEST__INIT;
    rq.request_case = PARLEY__DIALOG__V1__CONVERSE_REQUEST__REQUEST_CONTROL;
    rq.control = &ci;
    c->eou_us = pl_time_mono_us();
    send_request(c, &rq, false);
}

/* Read FILE into c->pcm (mono s16 at its own rate). */
static bool load_audio(struct chat *c, const char *path) {
    struct pl_audio *a = NULL;
    struct pl_audio_info info;
    if (pl_audio_decode_file(path, NULL, &a, &info) != PL_OK) {
        fprintf(stderr, "parley chat: %s: %s\n", path, pl_last_error());
        return false;
    }
    if (pl_audio_to_mono(a) != PL_OK || a->sample_rate < PL_AUDIO_RAW_MIN_RATE ||
        a->sample_rate > PL_AUDIO_RAW_MAX_RATE || !(c->pcm = pl_malloc(a->n_frames * 2 + 2))) {
        fprintf(stderr, "parley chat: %s: cannot stream it (%d Hz; %d..%d Hz)\n", path,
                a->sample_rate, PL_AUDIO_RAW_MIN_RATE, PL_AUDIO_RAW_MAX_RATE);
        pl_audio_destroy(a);
        return false;
    }
    pl_audio_float_to_s16(a->samples, a->n_frames, c->pcm);
    c->n_pcm = a->n_frames;
    c->in_rate = a->sample_rate;
    pl_audio_destroy(a);
    return true;
}

static bool save_reply(struct chat *c, const char *path) {
    struct pl_audio *a = NULL;
    uint8_t *wav = NULL;
    size_t n = 0;
    size_t bytes = c->n_reply / 2 * 2;
    pl_status st = pl_audio_decode_raw(c->reply, bytes, PL_AUDIO_ENC_LINEAR_PCM, c->reply_rate, 1,
                                       &a);
    if (st == PL_OK) st = pl_audio_encode(a, PL_AUDIO_FMT_WAV, &wav, &n);
    FILE *f = st == PL_OK ? fopen(path, "wb") : NULL;
    bool ok = f && fwrite(wav, 1, n, f) == n;
    if (f && fclose(f) != 0) ok = false;
    if (!ok) fprintf(stderr, "parley chat: cannot write %s: %s\n", path,
                     st != PL_OK ? pl_last_error() : strerror(errno));
    else if (!c->json)
        printf("reply audio: %s (%.2f s at %d Hz)\n", path, (double)bytes / 2 / c->reply_rate,
               c->reply_rate);
    pl_audio_destroy(a);
    pl_free(wav);
    return ok;
}

static int converse(struct chat *c, const char *session) {
    if (session && !check_session(c, session)) return 1;
    open_stream(c, session);
    if ((session || wait_for(c, &c->created)) && c->voice) speak_file(c);
    else if (session || c->created) repl(c);
    half_close(c);
    bool never = false;
    wait_for(c, &never);
    fflush(stdout);
    if (c->status != GRPC_STATUS_OK) {
        char *d = grpc_slice_to_c_string(c->details);
        fprintf(stderr, "parley chat: %s: the conversation ended with status %d (%s)%s%s\n",
                c->server, (int)c->status, status_name(c->status), *d ? ": " : "", d);
        if (c->session_id[0])
            fprintf(stderr, "parley chat: continue it later with --session %s\n", c->session_id);
        gpr_free(d);
        return 1;
    }
    if (c->session_id[0])
        fprintf(stderr, "parley chat: session %s kept; continue with --session %s\n",
                c->session_id, c->session_id);
    return 0;
}

/* After the stream: --reply-audio. */
static int finish_voice(struct chat *c, int rc, const char *reply_path) {
    if (rc == 0 && reply_path && !save_reply(c, reply_path)) rc = 1;
    pl_free(c->reply);
    pl_free(c->pcm);
    return rc;
}

int main(int argc, char **argv) {
    struct chat c;
    memset(&c, 0, sizeof c);
    c.server = "127.0.0.1:50051";
    c.user = "";
    c.dialog = "";
    const char *session = NULL, *audio = NULL, *reply_path = NULL;
    c.reply_rate = 22050;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--nlu")) {
            c.nlu = true;
        } else if (!strcmp(a, "--json")) {
            c.json = true;
        } else if (!strcmp(a, "--fast")) {
            c.fast = true;
        } else if (a[0] == '-' && i + 1 >= argc) {
            fprintf(stderr, "parley chat: %s needs a value\n", a);
            return 2;
        } else if (!strcmp(a, "--server")) c.server = argv[++i];
        else if (!strcmp(a, "--user")) c.user = argv[++i];
        else if (!strcmp(a, "--session")) session = argv[++i];
        else if (!strcmp(a, "--dialog")) c.dialog = argv[++i];
        else if (!strcmp(a, "--api-key")) c.api_key = argv[++i];
        else if (!strcmp(a, "--tls-ca")) c.tls_ca = argv[++i];
        else if (!strcmp(a, "--audio")) audio = argv[++i];
        else if (!strcmp(a, "--reply-audio")) reply_path = argv[++i];
        else if (!strcmp(a, "--reply-rate")) {
            char *end = NULL;
            long r = strtol(argv[++i], &end, 10);
            if (!end || *end || r < PL_AUDIO_RAW_MIN_RATE || r > PL_AUDIO_RAW_MAX_RATE) {
                fprintf(stderr, "parley chat: --reply-rate %s: want %d..%d\n", argv[i],
                        PL_AUDIO_RAW_MIN_RATE, PL_AUDIO_RAW_MAX_RATE);
                return 2;
            }
            c.reply_rate = (int)r;
        } else {
            fprintf(stderr, "parley chat: unknown argument %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (session && !*session) session = NULL;
    if ((reply_path || c.fast) && !audio) {
        fprintf(stderr, "parley chat: --reply-audio and --fast go with --audio\n");
        return 2;
    }
    if (audio && !load_audio(&c, audio)) return 2;
    c.voice = audio != NULL;
    c.tty = isatty(0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint; /* no SA_RESTART: a Ctrl-C ends the wait for input */
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    grpc_init();
    c.ch = pl_client_channel_tls("chat", c.server, c.tls_ca);
    if (!c.ch) {
        pl_free(c.pcm);
        grpc_shutdown();
        return 2;
    }
    c.cq = grpc_completion_queue_create_for_next(NULL);
    pl_client_auth_init(&c.auth, c.api_key);
    grpc_metadata_array_init(&c.init_md);
    grpc_metadata_array_init(&c.trail_md);
    c.status = GRPC_STATUS_UNKNOWN;
    c.details = grpc_empty_slice();
    int rc = converse(&c, session);
    rc = finish_voice(&c, rc, reply_path);
    if (c.call) grpc_call_unref(c.call);
    if (c.in) grpc_byte_buffer_destroy(c.in);
    if (c.out) grpc_byte_buffer_destroy(c.out);
    grpc_slice_unref(c.details);
    grpc_metadata_array_destroy(&c.init_md);
    grpc_metadata_array_destroy(&c.trail_md);
    pl_client_auth_deinit(&c.auth);
    grpc_completion_queue_shutdown(c.cq);
    while (grpc_completion_queue_next(c.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(c.cq);
    grpc_channel_destroy(c.ch);
    grpc_shutdown();
    return rc;
}
