/* bench_asr_dsp.c - speed of the ASR front end and decoders, and what the
 * word LM does on simulated CTC posteriors (a tool, not a suite).
 *
 *   bench_asr_dsp DATA_DIR LM.arpa[.gz] [BEAM [ALPHA BETA UNK_PREFIX_PENALTY [P_LO]]]
 *
 * 1. loads the LM (time);
 * 2. front end: log-mel of every LJ Speech subset clip (16 kHz), RTF;
 * 3. decoding: for each LJ subset transcript, simulated character posteriors
 *    (each letter 1-2 frames then 0-2 blank frames; the right letter gets a
 *    random share of P_LO..0.98 (0.35), 70% of the rest goes to one random
 *    other letter, 30% is spread; seeded), decoded greedily, by beam search without LM and with the
 *    LM; prints WER of each and the decoding RTF at 40 ms per frame.
 * The posteriors are synthetic: this measures the decoder and the LM, not an
 * acoustic model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "alloc.h"
#include "asr_ctc.h"
#include "asr_features.h"
#include "asr_lm.h"
#include "audio.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int split(char *s, char **w, int max) {
    int n = 0;
    while (*s && n < max) {
        while (*s == ' ')
            *s++ = '\0';
        if (!*s)
            break;
        w[n++] = s;
        while (*s && *s != ' ')
            s++;
    }
    return n;
}

/* word edit distance */
static int wer_errors(const char *ref, const char *hyp, int *n_ref) {
    char a[4096], b[4096];
    char *wa[512], *wb[512];
    snprintf(a, sizeof a, "%s", ref);
    snprintf(b, sizeof b, "%s", hyp);
    int na = split(a, wa, 512), nb = split(b, wb, 512);
    static int d[513][513];
    for (int i = 0; i <= na; i++)
        d[i][0] = i;
    for (int j = 0; j <= nb; j++)
        d[0][j] = j;
    for (int i = 1; i <= na; i++)
        for (int j = 1; j <= nb; j++) {
            int c = d[i - 1][j - 1] + (strcmp(wa[i - 1], wb[j - 1]) != 0);
            if (d[i - 1][j] + 1 < c)
                c = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < c)
                c = d[i][j - 1] + 1;
            d[i][j] = c;
        }
    *n_ref = na;
    return d[na][nb];
}

/* Peak resident memory of the process in MB (Linux: ru_maxrss is in KiB). */
static double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

static double P_LO = 0.35; /* lowest probability of the right letter */

static double urand(void) { return (rand() + 0.5) / ((double)RAND_MAX + 1); }

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s DATA_DIR LM [BEAM]\n", argv[0]);
        return 2;
    }
    int beam = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 16;
    struct pl_asr_decode_opts d0;
    pl_asr_decode_opts_default(&d0); /* the decoder's defaults unless given */
    double alpha = argc > 4 ? strtod(argv[4], NULL) : d0.lm_alpha;
    double beta = argc > 5 ? strtod(argv[5], NULL) : d0.lm_beta;
    double upp = argc > 6 ? strtod(argv[6], NULL) : d0.unk_prefix_penalty;
    if (argc > 7)
        P_LO = strtod(argv[7], NULL);
    char path[4096];
    double t0 = now();
    struct pl_asr_lm *lm = NULL;
    if (pl_asr_lm_load(argv[2], &lm) != PL_OK) {
        fprintf(stderr, "lm: %s\n", pl_last_error());
        return 1;
    }
    struct pl_alloc_stats as;
    pl_alloc_stats(&as);
    double load_s = now() - t0;
    printf("LM: order %d, n-grams", pl_asr_lm_order(lm));
    for (int k = 1; k <= pl_asr_lm_order(lm); k++)
        printf("%s%zu", k == 1 ? " " : "/", pl_asr_lm_count(lm, k));
    printf(", loaded in %.2f s, %.1f MB allocated, peak RSS %.1f MB\n", load_s,
           as.bytes_in_use / 1e6, peak_rss_mb());

    /* transcripts and clips */
    snprintf(path, sizeof path, "%.3000s/speech/ljspeech-subset/metadata.csv", argv[1]);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    static char ids[128][32], texts[128][1024];
    int n = 0;
    char line[4096];
    while (n < 128 && fgets(line, sizeof line, f)) {
        char *p1 = strchr(line, '|'), *p2 = p1 ? strchr(p1 + 1, '|') : NULL;
        if (!p2)
            continue;
        *p1 = 0;
        snprintf(ids[n], sizeof ids[n], "%.31s", line);
        size_t k = 0;
        int sp = 1;
        for (char *c = p2 + 1; *c && k + 1 < sizeof texts[n]; c++) {
            char ch = *c;
            if (ch >= 'A' && ch <= 'Z')
                ch = (char)(ch - 'A' + 'a');
            if ((ch >= 'a' && ch <= 'z') || ch == '\'') {
                texts[n][k++] = ch;
                sp = 0;
            } else if (!sp) {
                texts[n][k++] = ' ';
                sp = 1;
            }
        }
        while (k && texts[n][k - 1] == ' ')
            k--;
        texts[n][k] = 0;
        n++;
    }
    fclose(f);

    /* front end */
    struct pl_asr_fe *fe = NULL;
    pl_asr_fe_create(NULL, &fe);
    double audio_s = 0, fe_s = 0;
    for (int i = 0; i < n; i++) {
        struct pl_audio *a = NULL, *r = NULL;
        snprintf(path, sizeof path, "%.3000s/speech/ljspeech-subset/wavs/%.31s.flac", argv[1],
                 ids[i]);
        if (pl_audio_decode_file(path, NULL, &a, NULL) != PL_OK)
            continue;
        pl_audio_to_mono(a);
        if (pl_audio_resample(a, 16000, &r) == PL_OK) {
            float *feats = NULL;
            size_t nf = 0;
            double t1 = now();
            pl_asr_fe_compute(fe, r->samples, r->n_frames, &feats, &nf);
            fe_s += now() - t1;
            audio_s += r->n_frames / 16000.0;
            pl_free(feats);
        }
        pl_audio_destroy(a);
        pl_audio_destroy(r);
    }
    printf("front end: %.1f s of audio (%d clips) in %.3f s, RTF %.5f\n", audio_s, n, fe_s,
           fe_s / audio_s);
    pl_asr_fe_destroy(fe);

    /* decoding on simulated posteriors */
    const char *toks[] = {" ", "a", "b", "c", "d", "e", "f", "g", "h",  "i",
                          "j", "k", "l", "m", "n", "o", "p", "q", "r",  "s",
                          "t", "u", "v", "w", "x", "y", "z", "'", "<b>"};
    const int V = 29, BL = 28;
    struct pl_asr_vocab *v = NULL;
    pl_asr_vocab_create(toks, V, BL, PL_ASR_VOCAB_CHARS, &v);
    struct pl_asr_decode_opts o;
    pl_asr_decode_opts_default(&o);
    o.beam_width = beam;
    o.lm_alpha = alpha;
    o.lm_beta = beta;
    o.unk_prefix_penalty = upp;
    srand(42);
    int err[3] = {0}, nref = 0;
    double dec_s[3] = {0}, frames_total = 0;
    for (int i = 0; i < n; i++) {
        size_t L = strlen(texts[i]), cap = L * 5 + 4, T = 0;
        float *lp = malloc(sizeof(float) * cap * V);
        for (size_t c = 0; c <= L; c++) {
            int tok = c < L ? (texts[i][c] == ' '    ? 0
                               : texts[i][c] == '\'' ? 27
                                                     : texts[i][c] - 'a' + 1)
                            : BL;
            int reps = c < L ? 1 + rand() % 2 : 1, blanks = rand() % 3;
            for (int r = 0; r < reps + blanks; r++) {
                int t_tok = r < reps ? tok : BL;
                double p = r < reps ? P_LO + (0.98 - P_LO) * urand() : 0.9;
                int conf = 1 + rand() % 27;
                double rest = 1 - p, pc = rest * 0.7, pn = rest * 0.3 / (V - 2);
                float *row = lp + T * V;
                for (int k = 0; k < V; k++)
                    row[k] = (float)log(pn);
                row[conf] = (float)log(pc + pn);
                row[t_tok] = (float)log(p);
                T++;
            }
        }
        frames_total += T;
        for (int m = 0; m < 3; m++) {
            struct pl_asr_nbest *nb = NULL;
            double t1 = now();
            if (m == 0) {
                pl_asr_ctc_greedy(v, lp, T, V, &o, &nb);
            } else {
                struct pl_asr_beam *b = NULL;
                struct pl_asr_decode_opts oo = o;
                if (m == 1)
                    oo.lm_alpha = oo.lm_beta = 0;
                pl_asr_beam_create(v, m == 2 ? lm : NULL, &oo, NULL, 0, &b);
                pl_asr_beam_feed(b, lp, T, V);
                pl_asr_beam_finish(b, &nb);
                pl_asr_beam_destroy(b);
            }
            dec_s[m] += now() - t1;
            int nr = 0;
            err[m] += wer_errors(texts[i], nb->hyps[0].text, &nr);
            if (m == 0)
                nref += nr;
            if (i == 0)
                printf("  %-8s %s\n",
                       m == 0   ? "greedy"
                       : m == 1 ? "beam"
                                : "beam+LM",
                       nb->hyps[0].text);
            pl_asr_nbest_destroy(nb);
        }
        free(lp);
    }
    double dur = frames_total * 0.040;
    const char *names[] = {"greedy", "beam (no LM)", "beam + LM"};
    for (int m = 0; m < 3; m++)
        printf("%-17s WER %5.1f%% (%d/%d words), %.3f s for %.0f s of frames, RTF %.5f\n", names[m],
               100.0 * err[m] / nref, err[m], nref, dec_s[m], dur, dec_s[m] / dur);
    pl_asr_vocab_destroy(v);
    pl_asr_lm_destroy(lm);
    return 0;
}
