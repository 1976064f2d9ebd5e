/*
 * tts_g2p.h - grapheme-to-phoneme for words outside the lexicons: a joint-sequence ("graphone")
 * n-gram model, trained by train/tts/g2p.py (models/tts-g2p/).
 *
 * A graphone is 1-2 letters with 0-2 ARPAbet phones (stress included). The model is an n-gram
 * over graphones in backoff form, stored as an automaton: a state per history, arcs sorted by
 * graphone, each with its log probability and the state it leads to, and a backoff (state,
 * log weight) per state. Decoding is a beam search over the segmentations of the word into
 * graphones; the best-scoring sequence (with the word-end token) gives the phones.
 *
 * File (little-endian, g2p.bin):
 *
 *     offset  size        what
 *     0       8           magic "PLG2P01\0"
 *     8       4 x 6       u32 order, n_units, n_states, n_arcs, start_state, reserved (0)
 *     32      8 n_units   units: u8 n_letters (1..2; 0 for units 0 = word end, 1 = word start),
 *                         char letters[2] ('a'-'z', '\''; NUL padded), u8 n_phones (0..2),
 *                         u8 phones[2] (tts_front.h phone ids), 2 bytes padding
 *     ...     16 n_states states: u32 first_arc, u32 n_arcs, u32 backoff_state (0xFFFFFFFF for
 *                         state 0, the empty history; else a smaller state number),
 *                         f32 log backoff weight (natural log)
 *     ...     8 n_arcs    arcs: u16 unit (strictly increasing within a state), u16 q
 *                         (log p = -q / 1024), u32 next state
 *
 * Thread-safety: a model is immutable once loaded; any number of threads may decode with it.
 */
#ifndef PL_TTS_G2P_H
#define PL_TTS_G2P_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pl_tts_g2p;

#define PL_TTS_G2P_MAX_LETTERS 64 /* longer words get no answer */
#define PL_TTS_G2P_BEAM 32        /* default beam: histories kept per letter position */
#define PL_TTS_G2P_THRESHOLD 10.0f /* default: drop hypotheses this far (natural log) below the
                                     best one at their letter position */

/* Load a model file (g2p.bin). Refuses a bad magic, sizes that disagree with the file,
 * units, arcs or states out of range, unsorted arcs, backoff chains that do not end at
 * state 0.
 * Returns PL_OK; PL_E_INVALID_ARG; PL_E_IO; PL_E_FORMAT (naming the problem); PL_E_NOMEM.
 * OUT: *out, caller owns; pl_tts_g2p_destroy(). NULL on failure. */
pl_status pl_tts_g2p_load(const char *path, struct pl_tts_g2p **out);

/* The same from bytes in memory (copied). */
pl_status pl_tts_g2p_load_bytes(const void *data, size_t len, struct pl_tts_g2p **out);

void pl_tts_g2p_destroy(struct pl_tts_g2p *m); /* NULL: no-op */

/* Search width: beam histories kept per letter position (1..4096; default PL_TTS_G2P_BEAM),
 * hypotheses more than threshold below the best at their position dropped (natural log;
 * <= 0 restores PL_TTS_G2P_THRESHOLD). Set it before sharing the model between threads. */
void pl_tts_g2p_set_beam(struct pl_tts_g2p *m, int beam, float threshold);

/*
 * Phones of word[0..len). ASCII letters (either case) and apostrophes the model knows are
 * spelled; every other byte (digits, hyphens, UTF-8 sequences) is skipped.
 * Returns the number of phones written to phones[0..cap), or 0 when the word has no letters
 * left, more than PL_TTS_G2P_MAX_LETTERS letters, a pronunciation longer than cap, or when
 * memory runs out. Signature of pl_tts_g2p_fn (tts_front.h) with ud = the model:
 *
 *     struct pl_tts_front_opts fo = {.cmu = cmu, .g2p = pl_tts_g2p_phones, .g2p_ud = model};
 */
size_t pl_tts_g2p_phones(const char *word, size_t len, uint8_t *phones, size_t cap, void *ud);

struct pl_tts_g2p_info {
    int order;
    size_t n_units, n_states, n_arcs;
    size_t bytes; /* memory held */
};
void pl_tts_g2p_info(const struct pl_tts_g2p *m, struct pl_tts_g2p_info *out);

#ifdef __cplusplus
}
#endif
#endif
