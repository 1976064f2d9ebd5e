/*
 * chat_json.c - `parley chat --json`: one JSON line per Converse message (chat_json.h).
 */
#include "chat_json.h"

#include <stdio.h>
#include <string.h>

#include "client_grpc.h"

static const char *event_name(int type) {
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&parley__dialog__v1__event_type__descriptor, type);
    return v ? v->name + (strncmp(v->name, "EVENT_", 6) ? 0 : 6) : "UNSPECIFIED";
}

static void key_str(const char *key, const char *value) {
    printf(", \"%s\": ", key);
    pl_client_json_str(stdout, value);
}

static void print_nlu(const Parley__Dialog__V1__NluResult *n) {
    key_str("text", n->text);
    key_str("intent", n->intent ? n->intent->name : "");
    printf(", \"score\": %.6g, \"slots\": [", n->intent ? n->intent->score : 0.0);
    for (size_t i = 0; i < n->n_slots; i++) {
        printf("%s{\"name\": ", i ? ", " : "");
        pl_client_json_str(stdout, n->slots[i]->name);
        key_str("value", n->slots[i]->value);
        printf(", \"start\": %u, \"end\": %u}", n->slots[i]->start, n->slots[i]->end);
    }
    printf("]");
}

static void print_event(const Parley__Dialog__V1__DialogEvent *e) {
    key_str("event", event_name(e->type));
    key_str("detail", e->detail);
    printf(", \"attributes\": {");
    for (size_t i = 0; i < e->n_attributes; i++) {
        if (i) printf(", ");
        pl_client_json_str(stdout, e->attributes[i]->key);
        printf(": ");
        pl_client_json_str(stdout, e->attributes[i]->value);
    }
    printf("}");
}

void pl_chat_print_json(const Parley__Dialog__V1__ConverseResponse *r) {
    static const char *types[] = {
        [PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_TRANSCRIPT] = "transcript",
        [PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_NLU] = "nlu",
        [PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_BOT_TEXT] = "bot_text",
        [PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_BOT_AUDIO] = "bot_audio",
        [PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_EVENT] = "event",
    };
    unsigned k = (unsigned)r->response_case;
    if (k >= sizeof types / sizeof types[0] || !types[k]) return;
    printf("{\"type\": \"%s\"", types[k]);
    key_str("session_id", r->session_id);
    key_str("context_id", r->context_id);
    printf(", \"turn\": %d", r->turn);
    switch (r->response_case) {
    case PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_TRANSCRIPT:
        key_str("text", r->transcript->text);
        printf(", \"is_final\": %s", r->transcript->is_final ? "true" : "false");
        break;
    case PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_NLU:
        print_nlu(r->nlu);
        break;
    case PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_BOT_TEXT:
        key_str("text", r->bot_text->text);
        key_str("response_name", r->bot_text->response_name);
        printf(", \"expects_input\": %s", r->bot_text->expects_input ? "true" : "false");
        break;
    case PARLEY__DIALOG__V1__CONVERSE_RESPONSE__RESPONSE_BOT_AUDIO:
        printf(", \"bytes\": %zu, \"sample_rate_hz\": %d, \"is_last\": %s",
               r->bot_audio->audio.len, r->bot_audio->sample_rate_hz,
               r->bot_audio->is_last ? "true" : "false");
        break;
    default:
        print_event(r->event);
    }
    printf("}\n");
}
