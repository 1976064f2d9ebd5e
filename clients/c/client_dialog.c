/*
 * client_dialog.c - libparley-client: parley.dialog.v1 Converse, text and audio turns
 * (parley/client.h).
 */
#include <string.h>

#include "alloc.h"
#include "client_impl.h"
#include "parley/dialog/v1/dialog.pb-c.h"

#define CONVERSE "/parley.dialog.v1.Dialog/Converse"

/* The transcript, NLU result or bot text of m, into out. */
static void fill_turn(const Parley__Dialog__V1__ConverseResponse *r,
                      struct pl_client_converse_msg *out) {
    switch (r->response_case) {
    case PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_TRANSCRIPT:
        out->kind = PL_CLIENT_MSG_TRANSCRIPT;
        out->text = r->transcript->text;
        out->is_final = r->transcript->is_final;
        out->stability = r->transcript->stability;
        out->confidence = r->transcript->confidence;
        break;
    case PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_BOT_TEXT:
        out->kind = PL_CLIENT_MSG_BOT_TEXT;
        out->text = r->bot_text->text;
        out->response_name = r->bot_text->response_name;
        out->expects_input = r->bot_text->expects_input;
        break;
    case PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_BOT_AUDIO:
        out->kind = PL_CLIENT_MSG_BOT_AUDIO;
        out->audio = r->bot_audio->audio.data;
        out->n_audio = r->bot_audio->audio.len;
        out->sample_rate_hz = r->bot_audio->sample_rate_hz;
        out->is_last = r->bot_audio->is_last;
        break;
    default:
        break;
    }
}

static pl_status dialog_on_message(struct pl_client_stream *s, grpc_byte_buffer *bb) {
    ProtobufCMessage *m = NULL;
    if (pl__rpc_unpack(bb, &parley__dialog__v1__converse_response__descriptor, &m) != PL_OK)
        return pl__client_fail(PL_E_FORMAT, "%s: bad response: %s", s->rpc_name, pl_last_error());
    Parley__Dialog__V1__ConverseResponse *r = (void *)m;
    struct pl_client_converse_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.session_id = r->session_id;
    msg.context_id = r->context_id;
    msg.turn = r->turn;
    msg.text = "";
    msg.intent = "";
    msg.response_name = "";
    fill_turn(r, &msg);
    struct pl_client_slot *slots = NULL;
    struct pl_client_attr *attrs = NULL;
    pl_status st = PL_OK;
    if (r->response_case == PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_NLU) {
        const Parley__Dialog__V1__NluResult *n = r->nlu;
        msg.kind = PL_CLIENT_MSG_NLU;
        msg.text = n->text;
        msg.intent = n->intent ? n->intent->name : "";
        msg.score = n->intent ? n->intent->score : 0.0f;
        if (n->n_slots && !(slots = pl_calloc(n->n_slots, sizeof *slots)))
            st = pl__client_fail(PL_E_NOMEM, "%s: out of memory", s->rpc_name);
        for (size_t i = 0; slots && i < n->n_slots; i++) {
            slots[i].name = n->slots[i]->name;
            slots[i].value = n->slots[i]->value;
            slots[i].score = n->slots[i]->score;
            slots[i].start = n->slots[i]->start;
            slots[i].end = n->slots[i]->end;
        }
        msg.slots = slots;
        msg.n_slots = slots ? n->n_slots : 0;
    } else if (r->response_case == PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_EVENT) {
        const Parley__Dialog__V1__DialogEvent *e = r->event;
        msg.kind = PL_CLIENT_MSG_EVENT;
        msg.event = (enum pl_client_event)e->type;
        msg.text = e->detail;
        if (e->n_attributes && !(attrs = pl_calloc(e->n_attributes, sizeof *attrs)))
            st = pl__client_fail(PL_E_NOMEM, "%s: out of memory", s->rpc_name);
        for (size_t i = 0; attrs && i < e->n_attributes; i++) {
            attrs[i].key = e->attributes[i]->key;
            attrs[i].value = e->attributes[i]->value;
        }
        msg.attrs = attrs;
        msg.n_attrs = attrs ? e->n_attributes : 0;
    }
    if (st == PL_OK && msg.kind != 0 && ((pl_client_converse_cb)s->cb)(s->ud, &msg) != 0)
        st = pl__client_cb_cancel(s);
    pl_free(slots);
    pl_free(attrs);
    pl_proto_free(m);
    return st;
}

static pl_status dialog_send_text(struct pl_client_stream *s, const char *text) {
    Parley__Dialog__V1__TextInput t = PARLEY__DIALOG__V1__TEXT_INPUT__INIT;
    t.text = (char *)text;
    Parley__Dialog__V1__ConverseRequest rq = PARLEY__DIALOG__V1__CONVERSE_REQUEST__INIT;
    rq.request_case = PARLEY__DIALOG__V1__CONVERSE_REQUEST__REQUEST_TEXT;
    rq.text = &t;
    return pl__client_stream_send(s, &rq.base);
}

static pl_status dialog_send_audio(struct pl_client_stream *s, const void *audio, size_t n) {
    Parley__Dialog__V1__ConverseRequest rq = PARLEY__DIALOG__V1__CONVERSE_REQUEST__INIT;
    rq.request_case = PARLEY__DIALOG__V1__CONVERSE_REQUEST__REQUEST_AUDIO_CONTENT;
    rq.audio_content.data = (uint8_t *)audio;
    rq.audio_content.len = n;
    return pl__client_stream_send(s, &rq.base);
}

static pl_status dialog_end_utterance(struct pl_client_stream *s) {
    Parley__Dialog__V1__ControlInput ci = PARLEY__DIALOG__V1__CONTROL_INPUT__INIT;
    ci.kind = PARLEY__DIALOG__V1__CONTROL_INPUT__KIND__END_OF_UTTERANCE;
    Parley__Dialog__V1__ConverseRequest rq = PARLEY__DIALOG__V1__CONVERSE_REQUEST__INIT;
    rq.request_case = PARLEY__DIALOG__V1__CONVERSE_REQUEST__REQUEST_CONTROL;
    rq.control = &ci;
    return pl__client_stream_send(s, &rq.base);
}

static const struct pl_client_stream_i dialog_iface = {
    .send_audio = dialog_send_audio,
    .send_text = dialog_send_text,
    .end_utterance = dialog_end_utterance,
    .on_message = dialog_on_message,
};

static const char *or_empty(const char *s) { return s ? s : ""; }

pl_status pl_client_converse_open(struct pl_client *c, const struct pl_client_converse_config *cfg,
                                  pl_client_converse_cb cb, void *ud,
                                  struct pl_client_stream **out) {
    if (!out) return pl__client_fail(PL_E_INVALID_ARG, "Converse: out is NULL");
    *out = NULL;
    if (!c || !cb) return pl__client_fail(PL_E_INVALID_ARG, "Converse: no client or callback");
    static const struct pl_client_converse_config defaults = {0};
    if (!cfg) cfg = &defaults;
    Parley__Dialog__V1__AudioInputConfig in = PARLEY__DIALOG__V1__AUDIO_INPUT_CONFIG__INIT;
    in.encoding = (Nvidia__Riva__AudioEncoding)pl__client_encoding(cfg->in_encoding);
    in.sample_rate_hertz = cfg->in_sample_rate_hz;
    in.server_endpointing = cfg->server_endpointing;
    Parley__Dialog__V1__AudioOutputConfig outc = PARLEY__DIALOG__V1__AUDIO_OUTPUT_CONFIG__INIT;
    outc.sample_rate_hz = cfg->out_sample_rate_hz;
    outc.voice_name = (char *)or_empty(cfg->voice);
    Parley__Dialog__V1__ConverseConfig cc = PARLEY__DIALOG__V1__CONVERSE_CONFIG__INIT;
    cc.session_id = (char *)or_empty(cfg->session_id);
    cc.user_id = (char *)or_empty(cfg->user_id);
    cc.dialog = (char *)or_empty(cfg->dialog);
    cc.context_id = (char *)or_empty(cfg->context_id);
    cc.include_nlu = cfg->include_nlu;
    cc.interim_results = cfg->interim_results;
    cc.input_audio = cfg->audio_in ? &in : NULL;
    cc.output_audio = cfg->audio_out ? &outc : NULL;
    Parley__Dialog__V1__ConverseRequest rq = PARLEY__DIALOG__V1__CONVERSE_REQUEST__INIT;
    rq.request_case = PARLEY__DIALOG__V1__CONVERSE_REQUEST__REQUEST_CONFIG;
    rq.config = &cc;
    return pl__client_stream_open(c, CONVERSE, &dialog_iface, &rq.base, (void *)cb, ud, out);
}

pl_status pl_client_converse_text(struct pl_client *c, const struct pl_client_converse_config *cfg,
                                  const char *text, pl_client_converse_cb cb, void *ud) {
    if (!text) return pl__client_fail(PL_E_INVALID_ARG, "Converse: no text");
    struct pl_client_stream *s = NULL;
    PL_TRY(pl_client_converse_open(c, cfg, cb, ud, &s));
    pl_status st = pl_client_stream_send_text(s, text);
    pl_status fin = pl_client_stream_finish(s);
    pl_client_stream_destroy(s);
    return fin != PL_OK ? fin : st;
}
