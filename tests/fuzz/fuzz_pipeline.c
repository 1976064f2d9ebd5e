/*
 * fuzz_pipeline.c - pipeline files (pipelines/NAME.json, dialog/dialog_pipeline.c,
 * docs/pipelines.md): JSON checked key by key, with line numbers from the YAML reader over the
 * same text. Every input must load or fail with PL_E_FORMAT naming the file; a pipeline that
 * loads must hold what dialog.h promises of it (a name of 1-64 [A-Za-z0-9_-], a stage that
 * answers, every string set, each number in its range).
 *
 * Input: the file's text.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dialog.h"
#include "fuzz_util.h"

static void check_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 64) abort();
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            abort();
}

static void check(const struct pl_dlg_pipeline *p) {
    check_name(p->name);
    if (!p->file || !p->description || !p->asr.model || !p->asr.language_code ||
        !p->asr.language_code[0] || !p->punctuation.model || !p->nlu.model || !p->dialog.spec ||
        !p->qa.knowledge_base || !p->tts.voice)
        abort();
    if (!p->has_dialog && !p->has_qa) abort();
    if (p->has_nlu && !p->has_dialog) abort();
    if (p->asr.silence_ms && (p->asr.silence_ms < 100 || p->asr.silence_ms > 60000)) abort();
    if (p->qa.top_n < 1 || p->qa.top_n > 10) abort();
    if (!(p->qa.threshold >= 0 && p->qa.threshold <= 1)) abort();
    if (strcmp(p->qa.knowledge_base, "default") != 0) abort();
    if (p->tts.sample_rate_hz && (p->tts.sample_rate_hz < 8000 || p->tts.sample_rate_hz > 48000))
        abort();
    int e = p->tts.encoding;
    if (e != 0 && e != 1 && e != 3 && e != 4 && e != 20) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) {
        fz_quiet();
        json_set_alloc_funcs(pl_malloc, pl_free); /* as in every Parley process (config.c) */
        init = 1;
    }
    struct pl_dlg_pipeline *p = NULL;
    pl_status st = pl_dlg_pipeline_parse("fuzz.json", (const char *)data, size, &p);
    if (st == PL_OK) {
        if (!p) abort();
        check(p);
    } else if (p || (st != PL_E_FORMAT && st != PL_E_NOMEM) ||
               (st == PL_E_FORMAT && strncmp(pl_last_error(), "fuzz.json:", 10) != 0)) {
        abort();
    }
    pl_dlg_pipeline_destroy(p);
    return 0;
}
