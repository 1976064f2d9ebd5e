/*
 * fuzz_dialog_spec.c - dialog specs (dialog/dialog_spec.c over dialog_yaml.c): YAML or
 * JSON text from operators' files, validated at load with messages naming file, line and
 * key. Every input must load or fail with PL_E_FORMAT; a spec that loads then runs two text
 * turns (without NLU or hooks) on a fresh session, which walks its flows, forms and
 * templates.
 *
 * Input: the spec text, then optionally FZ_SEP and the user's utterance.
 */
#include <stdint.h>
#include <stdlib.h>

#include "dialog.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) {
        fz_quiet();
        init = 1;
    }
    struct fz_in in = {data, size};
    size_t slen = 0, ulen = 0;
    const uint8_t *s = fz_next_part(&in, &slen);
    const uint8_t *u = fz_next_part(&in, &ulen);
    struct pl_dlg_spec *spec = NULL;
    pl_status st = pl_dlg_spec_parse("fuzz.yaml", s ? (const char *)s : "", s ? slen : 0, &spec);
    if (st != PL_OK && st != PL_E_FORMAT && st != PL_E_NOMEM) abort();
    if (st != PL_OK) return 0;
    char *utt = fz_str(u ? u : (const uint8_t *)"hello", u ? ulen : 5);
    struct pl_dlg_state *state = NULL;
    if (utt && pl_dlg_state_create("s1", "fuzz-user", pl_dlg_spec_name(spec), "en-US",
                                    &state) == PL_OK) {
        struct pl_dlg_turn turn;
        struct pl_dlg_ctx *c;
        pl_dlg_turn_init(&turn);
        if (pl_dlg_context_create(state, "", NULL, 0, true, 1, &turn, &c) == PL_OK) {
            struct pl_dlg_turn_opts o = {.now_ms = 1000};
            for (int i = 0; i < 2; i++) {
                pl_dlg_turn_deinit(&turn);
                pl_dlg_turn_init(&turn);
                (void)pl_dlg_turn_run(spec, state, utt, NULL, &o, &turn);
            }
        }
        pl_dlg_turn_deinit(&turn);
        pl_dlg_state_destroy(state);
    }
    pl_free(utt);
    pl_dlg_spec_destroy(spec);
    return 0;
}
