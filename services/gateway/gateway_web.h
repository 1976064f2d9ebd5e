/*
 * gateway_web.h - private to gateway_web.c (and its fuzz target, tests/fuzz/fuzz_ws.c): the
 * parley.converse.v1 messages as what the socket does with them, and the start message as the
 * ConverseConfig it opens (docs/web-protocol.md).
 * Not a public API.
 */
#ifndef PL_GATEWAY_WEB_H
#define PL_GATEWAY_WEB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "parley/dialog/v1/dialog.pb-c.h"

#define PL_GW_WEB_MAX_USER 65 /* start.user's buffer: at most 64 bytes, as the error says */

/* A start message's ConverseConfig; cfg points to in and out (when given) and to strings of
 * the message, which must outlive its use. */
struct pl_gw_web_start {
    Parley__Dialog__V1__ConverseConfig cfg;
    Parley__Dialog__V1__AudioInputConfig in;
    Parley__Dialog__V1__AudioOutputConfig out;
};

/* Fill st from the start message msg: user, session_id, dialog, language, context_id,
 * interim_results, nlu, barge_in, input_audio, output_audio. False: why (cap bytes) says what
 * is wrong, as the INVALID_ARGUMENT error the socket answers. */
bool pl__gw_web_start_config(json_t *msg, struct pl_gw_web_start *st, char *why, size_t cap);

/* What one text message of the socket asks for. */
enum pl_gw_web_kind {
    PL_GW_WEB_INVALID,  /* not a JSON object with a "type", or an unknown type: why says which */
    PL_GW_WEB_START,    /* open a conversation (pl__gw_web_start_config reads the rest) */
    PL_GW_WEB_REQUEST,  /* send rq on the open conversation (text, end_of_utterance, interrupt) */
    PL_GW_WEB_STOP,     /* half-close the conversation */
    PL_GW_WEB_LIST,     /* list_contexts */
    PL_GW_WEB_SWITCH,   /* switch_context to arg */
    PL_GW_WEB_NEW,      /* new_context named arg */
};

/* One parsed message: msg owns the strings rq and arg point to (pl__gw_web_message_done). */
struct pl_gw_web_message {
    enum pl_gw_web_kind kind;
    json_t *msg;
    const char *arg;
    Parley__Dialog__V1__ConverseRequest rq;
    Parley__Dialog__V1__TextInput text;
    Parley__Dialog__V1__ControlInput control;
    char why[160];
};

/* Parse text (n bytes) into m; the socket and the fuzz target act on m->kind. */
void pl__gw_web_message(const char *text, size_t n, struct pl_gw_web_message *m);
void pl__gw_web_message_done(struct pl_gw_web_message *m);

#endif
