/*
 * tts_front.h - the English text front end of speech synthesis.
 *
 * Text (or SSML) goes in; sentences of words with ARPAbet phones, pauses and
 * prosody come out, plus the normalized text (Riva's `processed_text`).
 *
 *     pl_tts_lexicon_load_cmu(path, &cmu)             -- once, shared
 *     pl_tts_front_create(&opts, &front)              -- once, shared
 *     pl_tts_front_run(front, text, PL_TTS_INPUT_AUTO, custom_dict, &res, err, sizeof err)
 *     ... res->sentences[i].items[j] ...
 *     pl_tts_result_destroy(res)
 *
 * The parts are usable on their own:
 *   phones     ARPAbet inventory (39 phones, vowels with stress 0/1/2) -> dense ids
 *   lexicon    CMU dictionary, user dictionary file, per-request custom dictionary
 *   normalize  written English -> speakable lower-case words with source byte spans
 *   split      sentence splitting of raw text and of normalized tokens (word cap)
 *   ssml       SSML subset -> flat segments with prosody
 * engine/tts/README.md lists the normalization rules and their limits.
 *
 * Errors: functions return pl_status and record a message with PL_ERR
 * (pl_last_error()); pl_tts_front_run also copies it into its err buffer.
 * Thread-safety: lexicons and fronts are immutable after creation and may be
 * shared by threads; results and token lists belong to one thread.
 */
#ifndef PL_TTS_FRONT_H
#define PL_TTS_FRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- phones */

/* Phone ids are dense: the 15 vowels each take three ids (stress 0, 1, 2),
 * the 24 consonants one id each: PL_TTS_N_PHONE_IDS ids in all, ordered
 * AA0 AA1 AA2 AE0 .. UW2 (vowels, alphabetical) then B CH D .. ZH. An acoustic
 * model can use them as embedding indices directly. */
#define PL_TTS_N_PHONES 39    /* base phones (no stress) */
#define PL_TTS_N_PHONE_IDS 69 /* 15 * 3 + 24 */
#define PL_TTS_MAX_PRON 64    /* phones in one pronunciation, at most */

/* Parse one ARPAbet symbol s[0..n) ("AH0", "ah1", "NG"); case-insensitive.
 * A vowel without a stress digit gets stress 0; a consonant with one is an
 * error. Returns true and *id on success; false on an unknown symbol. */
bool pl_tts_phone_parse(const char *s, size_t n, uint8_t *id);

/* "AH0", "NG" for an id; "?" for an id out of range. Static storage. */
const char *pl_tts_phone_name(uint8_t id);

/* Base phone 0..38 (AA=0 .. ZH=38) and stress (-1 for consonants). */
int pl_tts_phone_base(uint8_t id);
int pl_tts_phone_stress(uint8_t id);

/* Parse a space-separated ARPAbet string ("HH AH0 L OW1") into ids.
 * Returns PL_OK; PL_E_FORMAT naming the first bad symbol or an empty string or
 * more than cap phones. OUT: ids[0..*n). */
pl_status pl_tts_phones_parse(const char *s, size_t len, uint8_t *ids, size_t cap, size_t *n);

/* Map an IPA transcription (General American; the table is in tts_phone.c and
 * engine/tts/README.md) to ARPAbet ids. Stress marks (U+02C8 primary, U+02CC
 * secondary) apply to the next vowel; unstressed vowels get 0; syllable dots,
 * length marks and spaces are skipped.
 * Returns PL_OK; PL_E_FORMAT naming the first symbol that cannot be mapped
 * and its byte offset. OUT: ids[0..*n). */
pl_status pl_tts_ipa_to_arpabet(const char *ipa, size_t len, uint8_t *ids, size_t cap,
                                size_t *n);

/* --------------------------------------------------------------- lexicon */

/* A word -> pronunciations table (immutable once built). Words are matched
 * case-insensitively (ASCII letters); alternates keep their file order. */
struct pl_tts_lexicon;

/* Load the CMU pronouncing dictionary: "word PH1 PH2 ..." per line,
 * alternates as "word(2)", comments after '#'.
 * Returns PL_OK; PL_E_INVALID_ARG; PL_E_IO; PL_E_FORMAT (names the line);
 * PL_E_NOMEM. OUT: *out, caller owns; pl_tts_lexicon_destroy(). */
pl_status pl_tts_lexicon_load_cmu(const char *path, struct pl_tts_lexicon **out);

/* A user dictionary file: one entry per line in the custom-dictionary form
 * ("grapheme  PH PH ..."; two spaces between grapheme and phones); blank lines
 * and lines starting with '#' skipped. A later entry for the same word adds
 * an alternate. Errors as pl_tts_lexicon_load_cmu. */
pl_status pl_tts_lexicon_load_user(const char *path, struct pl_tts_lexicon **out);

/* Riva's per-request custom_dictionary: comma-separated entries, each
 * "grapheme  PH PH ..." (grapheme and pronunciation separated by two spaces,
 * phones by single spaces; spaces around an entry are trimmed). An empty or
 * all-space string gives an empty lexicon.
 * Returns PL_OK; PL_E_FORMAT with a message naming the entry; PL_E_NOMEM.
 * OUT: *out, caller owns; pl_tts_lexicon_destroy(). */
pl_status pl_tts_lexicon_parse_custom(const char *s, struct pl_tts_lexicon **out);

void pl_tts_lexicon_destroy(struct pl_tts_lexicon *lex); /* NULL: no-op */

/* Pronunciation number alt (0 = first) of word[0..len).
 * Returns the number of phones (>0) and *phones (borrowed, lives as long as
 * lex) or 0 when the word (or that alternate) is absent. */
size_t pl_tts_lexicon_lookup(const struct pl_tts_lexicon *lex, const char *word, size_t len,
                             int alt, const uint8_t **phones);

struct pl_tts_lexicon_stats {
    size_t n_words;  /* distinct words */
    size_t n_prons;  /* pronunciations, alternates included */
    size_t bytes;    /* memory held by the table */
};
void pl_tts_lexicon_stats(const struct pl_tts_lexicon *lex, struct pl_tts_lexicon_stats *out);

/* ---------------------------------------------------------- normalization */

enum pl_tts_tok_kind {
    PL_TTS_TOK_WORD = 0,
    PL_TTS_TOK_PUNCT = 1, /* a phrase break: see enum pl_tts_punct */
};

enum pl_tts_punct {
    PL_TTS_PUNCT_NONE = 0,
    PL_TTS_PUNCT_COMMA = 1,
    PL_TTS_PUNCT_PERIOD = 2,
    PL_TTS_PUNCT_QUESTION = 3,
    PL_TTS_PUNCT_EXCLAIM = 4,
    PL_TTS_PUNCT_COLON = 5,
    PL_TTS_PUNCT_SEMICOLON = 6,
    PL_TTS_PUNCT_PARAGRAPH = 7, /* blank line, new line item, SSML <p>/<s> end */
};

/* Token flags. */
#define PL_TTS_TOKF_LETTER 1u /* a spelled letter ("f" of "FBI"): say the letter's name */

struct pl_tts_token {
    enum pl_tts_tok_kind kind;
    enum pl_tts_punct punct; /* PUNCT tokens */
    const char *text;        /* lower-case word, or the mark (",", ".", "?", "!", ":", ";", "") */
    uint32_t src_start;      /* byte span of the input the token came from */
    uint32_t src_end;
    uint32_t flags; /* PL_TTS_TOKF_* */
};

/* A growable token list; token text lives in its arena. */
struct pl_tts_tokens {
    struct pl_tts_token *v;
    size_t n, cap;
    struct pl_arena arena;
};
void pl_tts_tokens_init(struct pl_tts_tokens *t);
void pl_tts_tokens_deinit(struct pl_tts_tokens *t);

/* SSML say-as instructions, passed to the normalizer. */
enum pl_tts_say_as {
    PL_TTS_SAY_AUTO = 0,
    PL_TTS_SAY_CHARACTERS = 1, /* characters, spell-out */
    PL_TTS_SAY_CARDINAL = 2,   /* cardinal, number */
    PL_TTS_SAY_ORDINAL = 3,
    PL_TTS_SAY_DATE = 4,
    PL_TTS_SAY_TIME = 5,
    PL_TTS_SAY_TELEPHONE = 6,
};

struct pl_tts_norm_opts {
    /* Lexicons asked, in order, whether an all-caps word is a word ("NASA") or
     * letters ("FBI"); may be empty. Borrowed. */
    const struct pl_tts_lexicon *const *lexicons;
    int n_lexicons;
    enum pl_tts_say_as say_as;
    char date_format[4]; /* say-as date: "mdy", "dmy", "ymd", "md", "dm", "ym", "my", "y"... */
};

/* Largest text accepted by the normalizer and the front end, in bytes. */
#define PL_TTS_MAX_TEXT ((size_t)16 << 20)

/*
 * Normalize text[0..len) (UTF-8) and append its tokens to out.
 * opts: NULL = defaults. src_map: NULL, or one source offset per byte of text
 * (SSML text whose entities were decoded); spans are then mapped through it;
 * without it spans are base + the byte offsets.
 * Returns PL_OK; PL_E_INVALID_ARG (NULL, invalid UTF-8 naming its byte offset,
 * text longer than PL_TTS_MAX_TEXT); PL_E_NOMEM. On failure out may hold a
 * part of the tokens.
 */
pl_status pl_tts_normalize(const char *text, size_t len, const struct pl_tts_norm_opts *opts,
                           const uint32_t *src_map, uint32_t base, struct pl_tts_tokens *out);

/* The tokens as one string: words separated by single spaces, punctuation
 * marks attached to the word before ("hello, world."); paragraph breaks are
 * not written. OUT: *out caller owns; pl_free(). Errors: PL_E_NOMEM. */
pl_status pl_tts_tokens_join(const struct pl_tts_token *toks, size_t n, char **out);

/* Convenience: normalize a NUL-terminated string and join it. */
pl_status pl_tts_normalize_text(const char *text, const struct pl_tts_norm_opts *opts,
                                char **out);

/* -------------------------------------------------------------- splitting */

struct pl_tts_span {
    uint32_t start, end; /* bytes */
};

/*
 * Split raw text into sentences for streaming: at . ! ? (with closing quotes
 * or brackets after them) followed by space, and at blank lines; a single
 * new line ends a sentence when the next line starts with an upper-case
 * letter, a digit or a list marker. Not after abbreviations ("Dr. Smith"),
 * initials ("J. R. R. Tolkien"), inside decimals, URLs or e-mail addresses.
 * Spans exclude the surrounding white space; empty sentences are skipped.
 * Returns PL_OK; PL_E_INVALID_ARG; PL_E_NOMEM.
 * OUT: *spans (caller owns; pl_free), *n.
 */
pl_status pl_tts_split_text(const char *text, size_t len, struct pl_tts_span **spans,
                            size_t *n);

/*
 * Cut normalized tokens into sentences: after PERIOD, QUESTION, EXCLAIM and
 * PARAGRAPH tokens, and wherever a sentence would pass max_words words (0 = no
 * cap): then at the best phrase break in its second half (after ; or :, then
 * after a comma, then before a conjunction), else right at the cap.
 * OUT: *spans (caller owns; pl_free): token index ranges [start, end), *n.
 * Returns PL_OK; PL_E_NOMEM.
 */
pl_status pl_tts_split_tokens(const struct pl_tts_token *toks, size_t n_toks, int max_words,
                              struct pl_tts_span **spans, size_t *n);

/* ------------------------------------------------------------------- SSML */

struct pl_tts_prosody {
    float rate;     /* speaking-rate multiplier: 1 = normal, 2 = twice as fast */
    float pitch;    /* F0 multiplier: 1 = normal */
    float volume;   /* amplitude multiplier: 1 = normal, 0 = silent */
    int emphasis;   /* 0 none/default, 1 reduced, 2 moderate, 3 strong */
};

enum pl_tts_seg_kind {
    PL_TTS_SEG_TEXT = 0,     /* text to normalize (with say_as) */
    PL_TTS_SEG_BREAK = 1,    /* a pause of break_ms */
    PL_TTS_SEG_PHONEME = 2,  /* text spoken with the given phones */
    PL_TTS_SEG_BOUNDARY = 3, /* end of <s> or <p>: a sentence ends here */
};

struct pl_tts_segment {
    enum pl_tts_seg_kind kind;
    const char *text;        /* decoded text (entities resolved); NUL-terminated */
    size_t len;
    const uint32_t *src_map; /* [len] source byte offset of each text byte */
    uint32_t src_start, src_end; /* span of the whole element or text run */
    struct pl_tts_prosody prosody;
    enum pl_tts_say_as say_as;
    char date_format[4];
    int break_ms;
    const uint8_t *phones; /* PHONEME: ARPAbet ids */
    size_t n_phones;
};

struct pl_tts_ssml {
    struct pl_tts_segment *segs;
    size_t n_segs;
    struct pl_arena arena; /* everything above */
};

#define PL_TTS_SSML_MAX_DEPTH 32

/* True when text starts with "<speak" after optional white space. */
bool pl_tts_is_ssml(const char *text, size_t len);

/*
 * Parse SSML: <speak> root with prosody, break, phoneme, say-as, sub,
 * emphasis, p, s; entities &amp; &lt; &gt; &quot; &apos; &#N; &#xN;;
 * comments and an <?xml ...?> declaration are skipped. Unknown elements are
 * dropped and their content read as text.
 * Returns PL_OK; PL_E_FORMAT with a message naming the problem and its byte
 * offset ("ssml: mismatched </p> at byte 40 (open: <s>)"); PL_E_INVALID_ARG;
 * PL_E_NOMEM. Iterative: nesting is limited to PL_TTS_SSML_MAX_DEPTH.
 * OUT: *out (caller owns; pl_tts_ssml_destroy). NULL on failure.
 */
pl_status pl_tts_ssml_parse(const char *text, size_t len, struct pl_tts_ssml **out);
void pl_tts_ssml_destroy(struct pl_tts_ssml *s);

/* -------------------------------------------------------------- front end */

/* A later G2P model: fill phones[0..cap) for word (lower-case) and return the
 * count, 0 when it has no answer. Called from the thread running the front end. */
typedef size_t (*pl_tts_g2p_fn)(const char *word, size_t len, uint8_t *phones, size_t cap,
                                void *ud);

struct pl_tts_front_opts {
    const struct pl_tts_lexicon *cmu;  /* borrowed; may be NULL */
    const struct pl_tts_lexicon *user; /* borrowed; may be NULL */
    pl_tts_g2p_fn g2p;                 /* may be NULL */
    void *g2p_ud;
    int max_words; /* per sentence; 0 = 50 */
};

struct pl_tts_front;

/* Returns PL_OK; PL_E_INVALID_ARG; PL_E_NOMEM. The lexicons must outlive the
 * front. OUT: *out, caller owns; pl_tts_front_destroy(). */
pl_status pl_tts_front_create(const struct pl_tts_front_opts *opts, struct pl_tts_front **out);
void pl_tts_front_destroy(struct pl_tts_front *f);

enum pl_tts_input {
    PL_TTS_INPUT_AUTO = 0, /* SSML when the text starts with <speak> */
    PL_TTS_INPUT_TEXT = 1,
    PL_TTS_INPUT_SSML = 2,
};

enum pl_tts_pron_source {
    PL_TTS_PRON_NONE = 0,    /* OOV: no phones */
    PL_TTS_PRON_SSML = 1,    /* <phoneme ph=...> */
    PL_TTS_PRON_REQUEST = 2, /* request custom_dictionary */
    PL_TTS_PRON_USER = 3,    /* user dictionary file */
    PL_TTS_PRON_CMU = 4,
    PL_TTS_PRON_LETTERS = 5, /* spelled letter names */
    PL_TTS_PRON_G2P = 6,
};

enum pl_tts_item_kind {
    PL_TTS_ITEM_WORD = 0,
    PL_TTS_ITEM_PAUSE = 1, /* punctuation or <break> */
};

struct pl_tts_item {
    enum pl_tts_item_kind kind;
    const char *text;    /* WORD: the normalized word; PAUSE: the mark or "" */
    uint32_t src_start;  /* bytes of the request text */
    uint32_t src_end;
    const uint8_t *phones; /* WORD: phone ids (NULL when OOV) */
    size_t n_phones;
    enum pl_tts_pron_source pron;
    enum pl_tts_punct punct; /* PAUSE from punctuation; NONE for <break> */
    int pause_ms;            /* PAUSE: suggested duration */
    struct pl_tts_prosody prosody;
};

struct pl_tts_sentence {
    struct pl_tts_item *items;
    size_t n_items;
    uint32_t src_start, src_end;
};

struct pl_tts_result {
    struct pl_tts_sentence *sentences;
    size_t n_sentences;
    char *normalized; /* Riva processed_text: the words and marks, one line */
    const char **oov; /* distinct words with no pronunciation */
    size_t n_oov;
    size_t n_words;
    struct pl_arena arena; /* everything above */
};

/*
 * Run the front end on a request.
 * text: UTF-8, NUL-terminated. custom_dictionary: NULL or Riva's form (see
 * pl_tts_lexicon_parse_custom). err: NULL or a buffer that receives the error
 * message on failure.
 * Returns PL_OK; PL_E_INVALID_ARG (NULL, invalid UTF-8, text too long);
 * PL_E_FORMAT (bad SSML or custom dictionary); PL_E_NOMEM.
 * OUT: *out caller owns; pl_tts_result_destroy(). NULL on failure.
 * Thread-safety: a front may run many requests at once.
 */
pl_status pl_tts_front_run(const struct pl_tts_front *front, const char *text,
                           enum pl_tts_input mode, const char *custom_dictionary,
                           struct pl_tts_result **out, char *err, size_t errlen);
void pl_tts_result_destroy(struct pl_tts_result *r);

#ifdef __cplusplus
}
#endif
#endif
