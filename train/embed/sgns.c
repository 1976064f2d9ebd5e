/* sgns: skip-gram word vectors with negative sampling over a stream of WordPiece ids.
 *
 * The input is a file of little-endian uint16 piece ids (a pretraining bundle's corpus,
 * decompressed). Ids below --specials are not pieces of text: they break the stream (a
 * document's [SEP]) and are never predicted. Every other id is a training word: its vectors
 * learn to predict the pieces within --window of it (the window shrinks at random, as in
 * word2vec, so near pieces count more) against --negative pieces drawn from the unigram
 * distribution raised to 3/4. Frequent pieces are subsampled (kept with probability
 * sqrt(t/f) + t/f). The learning rate falls linearly to 1/10000 of its start over all epochs.
 *
 * Threads update the shared tables without locks (each takes a slice of the stream); with one
 * thread a run is deterministic for its seed.
 *
 * Output: "PLSG" then uint32 vocab size, uint32 dim, then vocab x dim float32 (the input
 * vectors, row per id; ids that never occur keep their small random start).
 *
 *   cc -O3 -march=native -pthread -o sgns sgns.c -lm
 *   sgns --corpus corpus.u16 --vocab 8123 --dim 256 --out vectors.bin
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TABLE_SIZE (1u << 24) /* negative-sampling table entries */
#define MAX_SENT 1000        /* pieces per training span (the stream is cut into spans) */

struct opts {
    const char *corpus, *out;
    int vocab, dim, window, negative, epochs, threads, specials;
    double alpha, sample;
    uint64_t seed;
};

static struct opts O = {NULL, NULL, 0, 256, 5, 5, 1, 1, 5, 0.025, 1e-4, 1};

static uint16_t *stream;   /* the corpus */
static size_t n_stream;
static uint64_t *counts;   /* occurrences per id */
static uint64_t n_words;   /* occurrences of training ids */
static float *syn0, *syn1; /* input and output vectors */
static uint32_t *table;    /* ids drawn as negatives */
static float *keep;        /* subsampling: probability of keeping an occurrence of each id */
static volatile uint64_t done_words; /* progress over all threads (approximate) */

static uint64_t rnd_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rnd_unit(uint64_t *s) { return (rnd_next(s) >> 11) * (1.0 / 9007199254740992.0); }

static void die(const char *what) {
    fprintf(stderr, "sgns: %s\n", what);
    exit(1);
}

static void read_corpus(void) {
    FILE *f = fopen(O.corpus, "rb");
    if (!f) die("cannot open the corpus");
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (bytes <= 0 || bytes % 2) die("the corpus is empty or not a whole number of uint16 ids");
    n_stream = (size_t)bytes / 2;
    stream = malloc((size_t)bytes);
    if (!stream) die("out of memory for the corpus");
    if (fread(stream, 2, n_stream, f) != n_stream) die("short read on the corpus");
    fclose(f);
    counts = calloc((size_t)O.vocab, sizeof *counts);
    if (!counts) die("out of memory");
    for (size_t i = 0; i < n_stream; i++) {
        if (stream[i] >= O.vocab) die("the corpus holds an id at or over --vocab");
        counts[stream[i]]++;
    }
    for (int v = O.specials; v < O.vocab; v++) n_words += counts[v];
    if (!n_words) die("the corpus holds no training ids");
}

static void init_tables(void) {
    size_t n = (size_t)O.vocab * (size_t)O.dim;
    syn0 = malloc(n * sizeof *syn0);
    syn1 = calloc(n, sizeof *syn1);
    table = malloc(TABLE_SIZE * sizeof *table);
    keep = malloc((size_t)O.vocab * sizeof *keep);
    if (!syn0 || !syn1 || !table || !keep) die("out of memory for the tables");
    uint64_t s = O.seed;
    for (size_t i = 0; i < n; i++) syn0[i] = (float)((rnd_unit(&s) - 0.5) / O.dim);

    double total = 0;
    for (int v = O.specials; v < O.vocab; v++) total += pow((double)counts[v], 0.75);
    int v = O.specials;
    while (v < O.vocab && !counts[v]) v++;
    double acc = pow((double)counts[v], 0.75) / total;
    for (uint32_t i = 0; i < TABLE_SIZE; i++) {
        table[i] = (uint32_t)v;
        if ((double)(i + 1) / TABLE_SIZE > acc && v < O.vocab - 1) {
            do v++; while (v < O.vocab - 1 && !counts[v]);
            acc += pow((double)counts[v], 0.75) / total;
        }
    }
    for (int w = 0; w < O.vocab; w++) {
        double f = (double)counts[w] / (double)n_words;
        double k = f > 0 && O.sample > 0 ? sqrt(O.sample / f) + O.sample / f : 1.0;
        keep[w] = (float)(k > 1 ? 1 : k);
    }
}

/* One (center, context) pair: the context's input vector learns to predict the center
 * against negatives (word2vec's order; the gradient for syn0 is gathered in `grad`). */
static void train_pair(int ctx, int center, float alpha, float *grad, uint64_t *rs) {
    float *in = syn0 + (size_t)ctx * O.dim;
    memset(grad, 0, (size_t)O.dim * sizeof *grad);
    for (int d = 0; d <= O.negative; d++) {
        int target, label;
        if (d == 0) {
            target = center;
            label = 1;
        } else {
            target = (int)table[rnd_next(rs) % TABLE_SIZE];
            if (target == center) continue;
            label = 0;
        }
        float *out = syn1 + (size_t)target * O.dim;
        float dot = 0;
        for (int i = 0; i < O.dim; i++) dot += in[i] * out[i];
        float g;
        if (dot > 6) g = (float)(label - 1) * alpha;
        else if (dot < -6) g = (float)label * alpha;
        else g = ((float)label - 1.0f / (1.0f + expf(-dot))) * alpha;
        for (int i = 0; i < O.dim; i++) grad[i] += g * out[i];
        for (int i = 0; i < O.dim; i++) out[i] += g * in[i];
    }
    for (int i = 0; i < O.dim; i++) in[i] += grad[i];
}

struct slice {
    int index;
};

static void *train_thread(void *arg) {
    int t = ((struct slice *)arg)->index;
    size_t lo = n_stream * (size_t)t / (size_t)O.threads;
    size_t hi = n_stream * (size_t)(t + 1) / (size_t)O.threads;
    uint64_t rs = O.seed * 1000003u + (uint64_t)t + 1;
    float *grad = malloc((size_t)O.dim * sizeof *grad);
    int *sent = malloc(MAX_SENT * sizeof *sent);
    if (!grad || !sent) die("out of memory");
    uint64_t total = (uint64_t)O.epochs * n_words;
    time_t last = time(NULL);
    for (int ep = 0; ep < O.epochs; ep++) {
        size_t pos = lo;
        uint64_t local = 0;
        while (pos < hi) {
            /* a span: training ids up to a special id, the slice's end or MAX_SENT kept */
            int n = 0;
            while (pos < hi && n < MAX_SENT) {
                int w = stream[pos++];
                if (w < O.specials) {
                    if (n) break;
                    continue;
                }
                local++;
                if (keep[w] < 1 && rnd_unit(&rs) > keep[w]) continue;
                sent[n++] = w;
            }
            if (local >= 10000) {
                __atomic_fetch_add(&done_words, local, __ATOMIC_RELAXED);
                local = 0;
                if (t == 0 && time(NULL) - last >= 30) {
                    last = time(NULL);
                    fprintf(stderr, "sgns: %.1f%% of %d epoch(s)\n",
                            100.0 * (double)done_words / (double)total, O.epochs);
                }
            }
            float alpha = (float)(O.alpha * (1.0 - (double)done_words / (double)(total + 1)));
            if (alpha < O.alpha * 1e-4) alpha = (float)(O.alpha * 1e-4);
            for (int i = 0; i < n; i++) {
                int b = (int)(rnd_next(&rs) % (uint64_t)O.window);
                for (int j = i - O.window + b; j <= i + O.window - b; j++) {
                    if (j < 0 || j >= n || j == i) continue;
                    train_pair(sent[j], sent[i], alpha, grad, &rs);
                }
            }
        }
        __atomic_fetch_add(&done_words, local, __ATOMIC_RELAXED);
    }
    free(grad);
    free(sent);
    return NULL;
}

static void write_out(void) {
    FILE *f = fopen(O.out, "wb");
    if (!f) die("cannot write the output");
    uint32_t hdr[2] = {(uint32_t)O.vocab, (uint32_t)O.dim};
    if (fwrite("PLSG", 1, 4, f) != 4 || fwrite(hdr, 4, 2, f) != 2 ||
        fwrite(syn0, sizeof *syn0, (size_t)O.vocab * O.dim, f) != (size_t)O.vocab * O.dim)
        die("short write on the output");
    if (fclose(f)) die("cannot close the output");
}

static void usage(void) {
    fprintf(stderr,
            "usage: sgns --corpus FILE.u16 --vocab N --out FILE [--dim 256] [--window 5]\n"
            "            [--negative 5] [--epochs 1] [--threads 1] [--alpha 0.025]\n"
            "            [--sample 1e-4] [--specials 5] [--seed 1]\n");
    exit(2);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        if (!strcmp(a, "--corpus")) O.corpus = v;
        else if (!strcmp(a, "--out")) O.out = v;
        else if (!strcmp(a, "--vocab")) O.vocab = atoi(v);
        else if (!strcmp(a, "--dim")) O.dim = atoi(v);
        else if (!strcmp(a, "--window")) O.window = atoi(v);
        else if (!strcmp(a, "--negative")) O.negative = atoi(v);
        else if (!strcmp(a, "--epochs")) O.epochs = atoi(v);
        else if (!strcmp(a, "--threads")) O.threads = atoi(v);
        else if (!strcmp(a, "--specials")) O.specials = atoi(v);
        else if (!strcmp(a, "--alpha")) O.alpha = atof(v);
        else if (!strcmp(a, "--sample")) O.sample = atof(v);
        else if (!strcmp(a, "--seed")) O.seed = strtoull(v, NULL, 10);
        else usage();
        i++;
    }
    if (!O.corpus || !O.out || O.vocab <= O.specials || O.vocab > 65536 || O.dim < 1 ||
        O.window < 1 || O.negative < 0 || O.epochs < 1 || O.threads < 1 || O.alpha <= 0 ||
        O.specials < 0)
        usage();
    read_corpus();
    init_tables();
    fprintf(stderr, "sgns: %zu ids, %llu training words, vocab %d, dim %d, %d thread(s)\n",
            n_stream, (unsigned long long)n_words, O.vocab, O.dim, O.threads);
    pthread_t *th = malloc((size_t)O.threads * sizeof *th);
    struct slice *sl = malloc((size_t)O.threads * sizeof *sl);
    if (!th || !sl) die("out of memory");
    for (int t = 0; t < O.threads; t++) {
        sl[t].index = t;
        if (pthread_create(&th[t], NULL, train_thread, &sl[t])) die("cannot start a thread");
    }
    for (int t = 0; t < O.threads; t++) pthread_join(th[t], NULL);
    write_out();
    fprintf(stderr, "sgns: wrote %s\n", O.out);
    return 0;
}
