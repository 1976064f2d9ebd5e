/* test_dialog_util.h - helpers shared by the dialog core's unit tests (header-only: each test
 * is its own executable): the responses every spec must define, and an assertion that a spec
 * text fails to load with a message containing a given piece. */
#ifndef PL_TEST_DIALOG_UTIL_H
#define PL_TEST_DIALOG_UTIL_H

#include <check.h>
#include <stdio.h>
#include <string.h>

#include "dialog_impl.h"

#define BASE_RESPONSES                                                                             \
    "  fallback: Sorry?\n  kb_no_answer: No idea.\n  kb_unavailable: Can't.\n"                   \
    "  ask_yes_no: Yes or no?\n  invalid_value: Bad {value}.\n  resume: 'Back: {prompt}'\n"

/* The load error of a spec text ("t.yaml"), or NULL when it loads. */
static inline const char *spec_error(const char *text) {
    static char msg[512];
    struct pl_dlg_spec *s = NULL;
    pl_status st = pl_dlg_spec_parse("t.yaml", text, strlen(text), &s);
    pl_dlg_spec_destroy(s);
    if (st == PL_OK) return NULL;
    ck_assert_int_eq(st, PL_E_FORMAT);
    snprintf(msg, sizeof msg, "%s", pl_last_error());
    return msg;
}

#define ASSERT_ERR(text, want)                                                                     \
    do {                                                                                           \
        const char *e_ = spec_error(text);                                                         \
        ck_assert_msg(e_ && strstr(e_, want), "want '%s', got '%s'", want, e_ ? e_ : "(ok)");     \
    } while (0)

#endif
