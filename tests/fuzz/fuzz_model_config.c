/*
 * fuzz_model_config.c - model config.json loading: the NLU model config (services/nlu/
 * nlu_model.c: task, max_length, batching, tokenizer, heads and labels, variants, then the
 * encoder's own reading of the same file in engine/models/bert.c) and the ASR acoustic model
 * config (engine/models/asr_model.c: convolutions, blocks, vocabulary). The input is written
 * as config.json into a model directory under /tmp that also holds a small vocab.txt and an
 * empty model.safetensors, so the loaders read it from a file as they do in service.
 * Loading stops at the first missing weight at the latest.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "models/asr_model.h"
#include "nlu.h"

static char g_dir[256], g_cfg[300];

static int write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(data, 1, n, f) : 0;
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static void cleanup(void) {
    char p[400];
    const char *files[] = {"config.json", "vocab.txt", "model.safetensors"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(p, sizeof p, "%s/%s", g_dir, files[i]);
        unlink(p);
    }
    rmdir(g_dir);
}

static void setup(void) {
    fz_quiet();
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/pl-fuzz-model-%d", tmp && *tmp ? tmp : "/tmp", (int)getpid());
    snprintf(g_cfg, sizeof g_cfg, "%s/config.json", g_dir);
    mkdir(g_dir, 0755);
    static const char vocab[] =
        "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nbook\na\ntable\n##s\n,\n.\n?\n";
    static const uint8_t empty_st[] = {2, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    char p[400];
    snprintf(p, sizeof p, "%s/vocab.txt", g_dir);
    if (write_file(p, vocab, sizeof vocab - 1) != 0) abort();
    snprintf(p, sizeof p, "%s/model.safetensors", g_dir);
    if (write_file(p, empty_st, sizeof empty_st) != 0) abort();
    atexit(cleanup);
}

static void load_nlu(const char *variant) {
    struct pl_nlu_model_opts o = PL_NLU_MODEL_OPTS_INIT;
    o.threads = 1;
    o.variant = variant;
    struct pl_nlu_model *m = NULL;
    if (pl_nlu_model_load(g_dir, variant ? "m-v" : "m", &o, &m) == PL_OK) pl_nlu_model_destroy(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_dir[0]) setup();
    if (write_file(g_cfg, data, size) != 0) abort();
    enum pl_nlu_task task;
    (void)pl_nlu_model_probe(g_dir, &task);
    load_nlu(NULL);
    char **names = NULL;
    int n = 0;
    if (pl_nlu_model_variants(g_dir, &names, &n) == PL_OK) {
        for (int i = 0; i < n && i < 2; i++)
            load_nlu(names[i]);
        pl_nlu_variants_free(names, n);
    }
    struct pl_asr_model *am = NULL;
    if (pl_asr_model_load(g_dir, NULL, &am) == PL_OK) pl_asr_model_destroy(am);
    return 0;
}
