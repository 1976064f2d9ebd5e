/*
 * dialog_eot.c - end of turn (dialog.h): whether a pause in the user's speech ends the turn.
 *
 * Silence alone cannot tell the end of a turn from a pause inside it: a window short enough to
 * answer quickly (about 150 ms) ends many sentences at their commas, a window that keeps them
 * whole (400-800 ms) is most of the latency of a spoken turn. Production assistants end the
 * turn on a short pause when the words so far make a complete request and wait for the long
 * window otherwise; Parley does the same with two signals that are cheap and explainable:
 *   - the words: an English utterance does not end in an article, a preposition, a
 *     conjunction, a possessive, a subject pronoun or a filler ("book a table for", "play the",
 *     "and", "um"); a pause after one of them is a pause inside the turn;
 *   - the meaning: the NLU finds an intent with a confidence at least min_confidence, or the
 *     dialog just asked for a slot (or a yes/no) and these words are the answer.
 * The service (services/dialog/dialog_voice_asr.c) asks the NLU only when the words pass.
 */
#include <ctype.h>
#include <string.h>

#include "dialog.h"

/* Words after which an English utterance goes on (lowercase, sorted only for the reader). */
static const char *const open_words[] = {
    /* articles and possessive determiners */
    "a", "an", "the", "my", "your", "our", "their", "its", "every",
    /* prepositions that need an object (not particles: "turn it on", "log in" end) */
    "to", "of", "for", "from", "with", "at", "by", "into", "onto", "than", "via", "toward",
    "towards", "per", "until", "till", "during", "between", "among",
    /* conjunctions and subordinators */
    "and", "or", "but", "nor", "because", "if", "unless", "whether", "although",
    /* subject pronouns and their contractions (need a verb or what follows it) */
    "i", "i'm", "i'd", "i'll", "i've", "we're", "you're", "they're", "it's", "let's", "what's",
    /* fillers */
    "um", "umm", "uh", "uhh", "uhm", "er", "erm", "ah", "eh",
    NULL,
};

/* The last word of text, lowercased, without the punctuation around it, into w (n bytes).
 * Returns false when text has no word. */
static bool last_word(const char *text, char *w, size_t n) {
    size_t end = text ? strlen(text) : 0;
    while (end > 0 && !isalnum((unsigned char)text[end - 1]) && text[end - 1] != '\'') end--;
    while (end > 0 && text[end - 1] == '\'') end--; /* a closing quote */
    size_t start = end;
    while (start > 0 && (isalnum((unsigned char)text[start - 1]) || text[start - 1] == '\'' ||
                         (unsigned char)text[start - 1] >= 0x80))
        start--;
    if (start == end || n == 0) return false;
    size_t k = 0;
    for (size_t i = start; i < end && k + 1 < n; i++)
        w[k++] = (char)tolower((unsigned char)text[i]);
    w[k] = '\0';
    return true;
}

bool pl_dlg_eot_words_complete(const char *text) {
    char w[64];
    if (!last_word(text, w, sizeof w)) return false;
    for (const char *const *o = open_words; *o; o++)
        if (!strcmp(w, *o)) return false;
    return true;
}

enum pl_dlg_eot_verdict pl_dlg_eot_judge(const char *text, bool awaiting, float intent_score,
                                         float min_confidence) {
    if (!pl_dlg_eot_words_complete(text)) return PL_DLG_EOT_WAIT_WORDS;
    if (awaiting) return PL_DLG_EOT_END_ANSWER;
    if (intent_score < 0) return PL_DLG_EOT_ASK_NLU;
    return intent_score >= min_confidence ? PL_DLG_EOT_END_INTENT : PL_DLG_EOT_WAIT_INTENT;
}

const char *pl_dlg_eot_verdict_name(enum pl_dlg_eot_verdict v) {
    switch (v) {
    case PL_DLG_EOT_WAIT_WORDS: return "wait: the words go on";
    case PL_DLG_EOT_ASK_NLU: return "ask the NLU";
    case PL_DLG_EOT_WAIT_INTENT: return "wait: no confident intent";
    case PL_DLG_EOT_END_INTENT: return "end: a complete request";
    case PL_DLG_EOT_END_ANSWER: return "end: the answer to the prompt";
    }
    return "?";
}
