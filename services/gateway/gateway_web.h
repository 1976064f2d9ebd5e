/*
 * gateway_web.h - private to gateway_web.c (and its fuzz target, tests/fuzz/fuzz_ws.c): the
 * parley.converse.v1 start message as the ConverseConfig it opens (docs/web-protocol.md).
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

#endif
