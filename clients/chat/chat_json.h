/*
 * chat_json.h - `parley chat --json`: each message of the Converse stream as one line of JSON
 * on stdout (JSON Lines), so a program can follow a conversation turn by turn.
 *
 * Every line has "type" (transcript, nlu, bot_text, bot_audio, event), "session_id",
 * "context_id" and "turn"; then, by type: transcript: "text", "is_final"; nlu: "text",
 * "intent" ("" = none), "score", "slots": [{"name", "value", "start", "end"}]; bot_text:
 * "text", "response_name", "expects_input"; bot_audio: "bytes", "sample_rate_hz", "is_last";
 * event: "event" (TURN_COMPLETE, SLOT_SET, ...), "detail", "attributes": {key: value}.
 * A turn ends with its TURN_COMPLETE (or ERROR) event.
 */
#ifndef PL_CHAT_JSON_H
#define PL_CHAT_JSON_H

#include "parley/dialog/v1/dialog.pb-c.h"

/* Print r as one JSON line on stdout; responses of no known type print nothing. */
void pl_chat_print_json(const Parley__Dialog__V1__ConverseResponse *r);

#endif
