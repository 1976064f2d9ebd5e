/*
 * fuzz_tts_front.c - the speech front end (engine/tts): text normalization, sentence
 * splitting, SSML, the per-request custom dictionary, the user dictionary file format,
 * ARPAbet and IPA phone strings, and the graphone G2P on words outside the lexicons. All of
 * it takes text straight from Synthesize requests.
 *
 * Input: one flags byte (bits 0-1: input mode auto/text/SSML; bits 2-7: words per sentence),
 * the text, then optionally FZ_SEP and a custom dictionary ("word  PH PH, ..."), then FZ_SEP
 * and a user dictionary file's content. The G2P is the shipped models/tts-g2p when the
 * target finds it (PL_FUZZ_G2P), so words reach it; without it OOV words stay OOV.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "tts_front.h"
#include "tts_g2p.h"

static struct pl_tts_lexicon *g_cmu;
static struct pl_tts_g2p *g_g2p;

static void init(void) {
    fz_quiet();
    /* a small CMU-format lexicon: enough words for the normalizer's all-caps test */
    static const char lex[] = "hello HH AH0 L OW1\nworld W ER1 L D\nnasa N AE1 S AH0\n"
                              "the DH AH0\nthe(2) DH IY0\nread R IY1 D\nread(2) R EH1 D\n";
    char path[] = "/tmp/pl_fuzz_cmu_XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) {
        if (write(fd, lex, sizeof lex - 1) == (ssize_t)(sizeof lex - 1))
            (void)pl_tts_lexicon_load_cmu(path, &g_cmu);
        close(fd);
        unlink(path);
    }
#ifdef PL_FUZZ_G2P
    (void)pl_tts_g2p_load(PL_FUZZ_G2P, &g_g2p);
#endif
}

/* The user dictionary reader takes a path: the part goes through a temporary file. */
static void user_dict(const uint8_t *p, size_t n, struct pl_tts_lexicon **out) {
    char path[] = "/tmp/pl_fuzz_user_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return;
    if (write(fd, p, n) == (ssize_t)n) (void)pl_tts_lexicon_load_user(path, out);
    close(fd);
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int inited;
    if (!inited) {
        init();
        inited = 1;
    }
    struct fz_in in = {data, size};
    uint8_t flags = fz_byte(&in);
    size_t tlen = 0, clen = 0, ulen = 0;
    const uint8_t *t = fz_next_part(&in, &tlen);
    const uint8_t *c = fz_next_part(&in, &clen);
    const uint8_t *u = fz_next_part(&in, &ulen);
    char *text = fz_str(t ? t : (const uint8_t *)"", t ? tlen : 0);
    char *custom = c ? fz_str(c, clen) : NULL;
    if (!text || (c && !custom)) goto out;
    /* the text as the front end sees it: a C string, so up to its first NUL byte */
    tlen = strlen(text);

    struct pl_tts_lexicon *user = NULL;
    if (u) user_dict(u, ulen, &user);
    struct pl_tts_front_opts fo = {.cmu = g_cmu, .user = user, .max_words = flags >> 2};
    if (g_g2p) {
        fo.g2p = pl_tts_g2p_phones;
        fo.g2p_ud = g_g2p;
    }
    struct pl_tts_front *front = NULL;
    if (pl_tts_front_create(&fo, &front) == PL_OK) {
        struct pl_tts_result *res = NULL;
        char err[256];
        if (pl_tts_front_run(front, text, (enum pl_tts_input)(flags & 3) % 3, custom, &res, err,
                             sizeof err) == PL_OK)
            pl_tts_result_destroy(res);
        pl_tts_front_destroy(front);
    }
    pl_tts_lexicon_destroy(user);

    /* the pieces on their own */
    struct pl_tts_span *sp = NULL;
    size_t n = 0;
    if (pl_tts_split_text(text, tlen, &sp, &n) == PL_OK) pl_free(sp);
    uint8_t ids[PL_TTS_MAX_PRON];
    (void)pl_tts_phones_parse(text, tlen, ids, PL_TTS_MAX_PRON, &n);
    (void)pl_tts_ipa_to_arpabet(text, tlen, ids, PL_TTS_MAX_PRON, &n);
    struct pl_tts_ssml *ss = NULL;
    if (pl_tts_ssml_parse(text, tlen, &ss) == PL_OK) pl_tts_ssml_destroy(ss);
    if (custom) {
        struct pl_tts_lexicon *cl = NULL;
        if (pl_tts_lexicon_parse_custom(custom, &cl) == PL_OK) pl_tts_lexicon_destroy(cl);
    }
out:
    pl_free(text);
    pl_free(custom);
    return 0;
}
