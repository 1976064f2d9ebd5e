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
#include <math.h>
#include <stdlib.h>
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

enum pl_dlg_eot_verdict pl_dlg_eot_judge_tone(const char *text, bool awaiting,
                                              enum pl_dlg_eot_tone tone, float intent_score,
                                              float min_confidence) {
    if (!pl_dlg_eot_words_complete(text)) return PL_DLG_EOT_WAIT_WORDS;
    if (awaiting) return PL_DLG_EOT_END_ANSWER;
    if (tone == PL_DLG_EOT_TONE_FALLS) return PL_DLG_EOT_END_TONE;
    if (tone == PL_DLG_EOT_TONE_RISES) return PL_DLG_EOT_WAIT_TONE;
    return pl_dlg_eot_judge(text, awaiting, intent_score, min_confidence);
}

const char *pl_dlg_eot_verdict_name(enum pl_dlg_eot_verdict v) {
    switch (v) {
    case PL_DLG_EOT_WAIT_WORDS: return "wait: the words go on";
    case PL_DLG_EOT_ASK_NLU: return "ask the NLU";
    case PL_DLG_EOT_WAIT_INTENT: return "wait: no confident intent";
    case PL_DLG_EOT_END_INTENT: return "end: a complete request";
    case PL_DLG_EOT_END_ANSWER: return "end: the answer to the prompt";
    case PL_DLG_EOT_END_TONE: return "end: the voice fell";
    case PL_DLG_EOT_WAIT_TONE: return "wait: the voice rose";
    }
    return "?";
}

/* ---- the tone at the pause ------------------------------------------------------------------ */

#define PR_FS_TARGET 8000 /* the pitch tracker's rate: the input decimated to about this */
#define PR_HOP_S 0.010    /* one frame per 10 ms */
#define PR_WIN_S 0.030    /* correlation window */
#define PR_F0_MIN 60.0    /* Hz */
#define PR_F0_MAX 400.0
#define PR_VOICED_R 0.55f  /* normalized correlation of a voiced frame */
#define PR_SPEECH_REL 0.05 /* a frame is speech above 5% of the loudest frame's RMS */
#define PR_TAIL_S 0.400    /* the final stretch: voiced frames this far before the end */
#define PR_MAX_FRAMES 1024
#define PR_RANGE_ST 10.0f /* F0 further than this from the median is an octave error */

/* Normalized cross-correlation of x[0..w) with x[lag..lag+w). */
static float nccf(const float *x, int w, int lag) {
    double xy = 0, xx = 0, yy = 0;
    for (int i = 0; i < w; i++) {
        double a = x[i], b = x[i + lag];
        xy += a * b;
        xx += a * a;
        yy += b * b;
    }
    return xx > 0 && yy > 0 ? (float)(xy / sqrt(xx * yy)) : 0.0f;
}

/* F0 of the frame at x (w samples, lags lo..hi available after it), or 0 when unvoiced. */
static float frame_f0(const float *x, int w, int lo, int hi, float fs, float *r_out) {
    float r[512];
    int best = -1;
    for (int l = lo; l <= hi && l - lo < 512; l++) {
        r[l - lo] = nccf(x, w, l);
        if (best < 0 || r[l - lo] > r[best - lo]) best = l;
    }
    *r_out = best < 0 ? 0 : r[best - lo];
    if (best < 0 || r[best - lo] < PR_VOICED_R) return 0;
    /* a period twice too long correlates as well as the true one: prefer the shortest lag
     * whose local peak comes close to the best */
    for (int l = lo + 1; l < best; l++) {
        float c = r[l - lo];
        if (c >= 0.9f * r[best - lo] && c >= r[l - lo - 1] && c >= r[l - lo + 1]) {
            best = l;
            break;
        }
    }
    double lag = best;
    if (best > lo && best < hi && best - lo + 1 < 512) { /* parabolic peak */
        double a = r[best - lo - 1], b = r[best - lo], c = r[best - lo + 1];
        double d = a - 2 * b + c;
        if (d < 0) lag += 0.5 * (a - c) / d;
    }
    return (float)(fs / lag);
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static float median(float *v, int n) {
    if (n <= 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_float);
    return n % 2 ? v[n / 2] : 0.5f * (v[n / 2 - 1] + v[n / 2]);
}

static float semitones(float f, float ref) { return 12.0f * log2f(f / ref); }

bool pl_dlg_eot_prosody(const float *x, size_t n, int rate, struct pl_dlg_eot_prosody *out) {
    memset(out, 0, sizeof *out);
    if (!x || rate < 4000 || n < (size_t)rate / 5) return false;
    int dec = rate / PR_FS_TARGET > 1 ? rate / PR_FS_TARGET : 1;
    float fs = (float)rate / (float)dec;
    size_t m = n / (size_t)dec;
    float *y = malloc(m * sizeof *y);
    if (!y) return false;
    for (size_t i = 0; i < m; i++) { /* a box filter, then every dec-th sample */
        double s = 0;
        for (int k = 0; k < dec; k++) s += x[i * (size_t)dec + (size_t)k];
        y[i] = (float)(s / dec);
    }
    double mean = 0; /* no DC */
    for (size_t i = 0; i < m; i++) mean += y[i];
    mean /= (double)m;
    for (size_t i = 0; i < m; i++) y[i] -= (float)mean;
    int hop = (int)(fs * PR_HOP_S), w = (int)(fs * PR_WIN_S);
    int lo = (int)(fs / PR_F0_MAX), hi = (int)(fs / PR_F0_MIN);
    int nf = (int)(m / (size_t)hop);
    if (nf > PR_MAX_FRAMES) nf = PR_MAX_FRAMES;
    float rms[PR_MAX_FRAMES], f0[PR_MAX_FRAMES];
    float top = 0;
    for (int f = 0; f < nf; f++) {
        double e = 0;
        for (int i = 0; i < hop; i++) e += (double)y[f * hop + i] * y[f * hop + i];
        rms[f] = (float)sqrt(e / hop);
        if (rms[f] > top) top = rms[f];
    }
    int end = -1; /* the last frame of speech */
    for (int f = nf - 1; f >= 0 && top > 0; f--)
        if (rms[f] > PR_SPEECH_REL * top) {
            end = f;
            break;
        }
    bool ok = false;
    if (end >= 0) {
        out->speech_end_s = (float)(end + 1) * PR_HOP_S;
        out->pause_s = (float)(nf - end - 1) * PR_HOP_S;
        /* pitch of the frames that have their window and lags inside the buffer; a frame
         * quieter than a tenth of the loudest is not taken as voiced */
        float all[PR_MAX_FRAMES];
        int n_all = 0;
        for (int f = 0; f < nf; f++) {
            f0[f] = 0;
            size_t at = (size_t)f * (size_t)hop;
            float r;
            if (f > end || rms[f] < 0.1f * top || at + (size_t)(w + hi + 1) > m) continue;
            f0[f] = frame_f0(y + at, w, lo, hi, fs, &r);
            if (f0[f] > 0) all[n_all++] = f0[f];
        }
        /* the final stretch: voiced frames in the last PR_TAIL_S of speech, median of 3 */
        int first = end + 1 - (int)(PR_TAIL_S / PR_HOP_S);
        if (first < 0) first = 0;
        float t[PR_MAX_FRAMES], v[PR_MAX_FRAMES];
        int k = 0, run = 0, last_run = 0;
        for (int f = first; f <= end; f++) {
            if (f0[f] <= 0) {
                run = 0;
                continue;
            }
            last_run = ++run;
            float a3[3];
            int n3 = 0;
            for (int g = f - 1; g <= f + 1; g++)
                if (g >= 0 && g <= end && f0[g] > 0) a3[n3++] = f0[g];
            t[k] = (float)f * PR_HOP_S;
            v[k++] = median(a3, n3);
        }
        float ref = median(all, n_all);
        int kept = 0; /* an octave away from the speaker's middle is a tracking error */
        for (int i = 0; i < k && ref > 0; i++)
            if (fabsf(semitones(v[i], ref)) <= PR_RANGE_ST) {
                t[kept] = t[i];
                v[kept++] = v[i];
            }
        k = kept;
        out->voiced = k;
        out->last_voiced_ms = (float)last_run * PR_HOP_S * 1000.0f;
        if (k >= 5 && n_all >= 5) {
            out->f0_median_hz = ref;
            double st = 0, tt = 0, sv = 0, stv = 0;
            for (int i = 0; i < k; i++) {
                double s = semitones(v[i], ref);
                st += t[i];
                sv += s;
                tt += (double)t[i] * t[i];
                stv += (double)t[i] * s;
            }
            double den = k * tt - st * st;
            out->f0_slope_st = den > 0 ? (float)((k * stv - st * sv) / den) : 0;
            float e3[3] = {v[k - 1], v[k - 2], v[k - 3]};
            out->f0_end_hz = median(e3, 3);
            out->f0_end_rel_st = semitones(out->f0_end_hz, ref);
            ok = true;
        }
        /* energy over the last 200 ms of speech, dB per second */
        int e0 = end + 1 - 20 < 0 ? 0 : end + 1 - 20, ne = end - e0 + 1;
        double st = 0, tt = 0, sv = 0, stv = 0;
        for (int f = e0; f <= end; f++) {
            double s = 20.0 * log10(rms[f] / top + 1e-6), tf = f * PR_HOP_S;
            st += tf;
            sv += s;
            tt += tf * tf;
            stv += tf * s;
        }
        double den = ne * tt - st * st;
        out->energy_slope_db = ne > 2 && den > 0 ? (float)((ne * stv - st * sv) / den) : 0;
    }
    free(y);
    return ok;
}

enum pl_dlg_eot_tone pl_dlg_eot_tone_of(const struct pl_dlg_eot_prosody *p, float fall_slope,
                                        float rise_slope) {
    if (!p || p->voiced < 5 || p->f0_median_hz <= 0) return PL_DLG_EOT_TONE_UNKNOWN;
    if (p->f0_slope_st <= fall_slope) return PL_DLG_EOT_TONE_FALLS;
    return p->f0_slope_st > rise_slope ? PL_DLG_EOT_TONE_RISES : PL_DLG_EOT_TONE_LEVEL;
}
