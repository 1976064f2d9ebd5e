/*
 * tts_g2p.c - the graphone n-gram G2P decoder (tts_g2p.h has the model and its file).
 *
 * Search: hypotheses are (letter position, model state, score). Position by position, the
 * hypotheses that reached it are recombined (one per state, the best) and cut to the beam,
 * then each is extended by every graphone whose letters match the word there. Scores follow
 * the backoff model exactly: from a state, a graphone's arc is looked up there, else the
 * backoff weight is added and the lookup repeats in the backoff state. Since graphone ids are
 * sorted by their letters, the graphones starting with the letter "c" (or the pair "cd") are
 * one id range, and in each state they are one run of its arcs: the search walks the backoff
 * chain once per hypothesis and reads only the arcs of matching graphones (a graphone found
 * in a longer history is not taken again from a shorter one).
 */
#include "tts_g2p.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "file.h"
#include "tts_front.h"

#define MAGIC "PLG2P01"
#define HEADER_BYTES 32
#define UNIT_BYTES 8
#define STATE_BYTES 16
#define ARC_BYTES 8
#define NO_STATE 0xFFFFFFFFu
#define N_LETTERS 27 /* a-z, apostrophe */
#define MAX_FILE ((size_t)1 << 30)

struct unit {
    uint8_t n_letters, n_phones;
    uint8_t primary; /* 1 when a phone is a vowel with primary stress */
    uint8_t letters[2]; /* letter indices 0..26 */
    uint8_t phones[2];
};

struct state {
    uint32_t first_arc, n_arcs;
    uint32_t backoff; /* NO_STATE for state 0 */
    float log_backoff;
};

struct arc {
    uint16_t unit;
    uint16_t q; /* log p = -q / 1024 */
    uint32_t next;
};

struct range {
    uint32_t lo, hi; /* unit ids [lo, hi) */
};

struct pl_tts_g2p {
    int order, beam;
    float threshold; /* hypotheses this far (log) below the best at their position are dropped */
    uint32_t n_units, n_states, n_arcs, start;
    struct unit *units;
    struct state *states;
    struct arc *arcs;
    /* units spelled by one letter c: one[c]; by the pair c d: two[c * N_LETTERS + d] */
    struct range one[N_LETTERS], two[N_LETTERS * N_LETTERS];
    size_t bytes;
};

static int letter_index(unsigned char c) {
    if (c >= 'a' && c <= 'z') return c - 'a';
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c == '\'') return 26;
    return -1;
}

static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }

static float rdf32(const unsigned char *p) {
    uint32_t u = rd32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

void pl_tts_g2p_destroy(struct pl_tts_g2p *m) {
    if (!m) return;
    pl_free(m->units);
    pl_free(m->states);
    pl_free(m->arcs);
    pl_free(m);
}

/* Units from 2 on must come grouped by their letters (the recipe sorts them); record the
 * id range of each letter string. */
static pl_status index_units(struct pl_tts_g2p *m) {
    for (uint32_t u = 2; u < m->n_units; u++) {
        const struct unit *x = &m->units[u];
        struct range *r = x->n_letters == 1 ? &m->one[x->letters[0]]
                                            : &m->two[x->letters[0] * N_LETTERS + x->letters[1]];
        if (r->hi == 0) {
            r->lo = u;
        } else if (r->hi != u) {
            return PL_ERR(PL_E_FORMAT, "g2p model: unit %u: units of the same letters not adjacent",
                          u);
        }
        r->hi = u + 1;
    }
    return PL_OK;
}

static pl_status parse(struct pl_tts_g2p *m, const unsigned char *d, size_t len) {
    if (len < HEADER_BYTES || memcmp(d, MAGIC, 8) != 0)
        return PL_ERR(PL_E_FORMAT, "g2p model: bad magic (not a PLG2P01 file)");
    uint32_t order = rd32(d + 8);
    m->n_units = rd32(d + 12);
    m->n_states = rd32(d + 16);
    m->n_arcs = rd32(d + 20);
    m->start = rd32(d + 24);
    if (order < 1 || order > 32)
        return PL_ERR(PL_E_FORMAT, "g2p model: order %u out of range", order);
    m->order = (int)order;
    if (m->n_units < 3 || m->n_units > 65536 || m->n_states < 1 || m->n_arcs < 1)
        return PL_ERR(PL_E_FORMAT, "g2p model: %u units, %u states, %u arcs", m->n_units,
                      m->n_states, m->n_arcs);
    uint64_t need = HEADER_BYTES + (uint64_t)m->n_units * UNIT_BYTES +
                    (uint64_t)m->n_states * STATE_BYTES + (uint64_t)m->n_arcs * ARC_BYTES;
    if (need != len)
        return PL_ERR(PL_E_FORMAT, "g2p model: %zu bytes, the header implies %llu", len,
                      (unsigned long long)need);
    if (m->start >= m->n_states)
        return PL_ERR(PL_E_FORMAT, "g2p model: start state %u of %u", m->start, m->n_states);
    m->units = pl_calloc(m->n_units, sizeof *m->units);
    m->states = pl_calloc(m->n_states, sizeof *m->states);
    m->arcs = pl_calloc(m->n_arcs, sizeof *m->arcs);
    if (!m->units || !m->states || !m->arcs) return PL_ERR(PL_E_NOMEM, "g2p model");
    m->bytes = sizeof *m + m->n_units * sizeof *m->units + m->n_states * sizeof *m->states +
               m->n_arcs * sizeof *m->arcs;

    const unsigned char *p = d + HEADER_BYTES;
    for (uint32_t u = 0; u < m->n_units; u++, p += UNIT_BYTES) {
        struct unit *x = &m->units[u];
        x->n_letters = p[0];
        x->n_phones = p[3];
        bool ok = u < 2 ? x->n_letters == 0 && x->n_phones == 0
                        : x->n_letters >= 1 && x->n_letters <= 2 && x->n_phones <= 2;
        for (int k = 0; ok && k < x->n_letters; k++) {
            int li = letter_index(p[1 + k]);
            ok = li >= 0 && p[1 + k] == (unsigned char)("abcdefghijklmnopqrstuvwxyz'"[li]);
            x->letters[k] = (uint8_t)(li < 0 ? 0 : li);
        }
        for (int k = 0; ok && k < x->n_phones; k++) {
            x->phones[k] = p[4 + k];
            ok = p[4 + k] < PL_TTS_N_PHONE_IDS;
            if (ok && pl_tts_phone_stress(p[4 + k]) == 1) x->primary = 1;
        }
        if (!ok) return PL_ERR(PL_E_FORMAT, "g2p model: unit %u malformed", u);
    }
    for (uint32_t s = 0; s < m->n_states; s++, p += STATE_BYTES) {
        struct state *x = &m->states[s];
        x->first_arc = rd32(p);
        x->n_arcs = rd32(p + 4);
        x->backoff = rd32(p + 8);
        x->log_backoff = rdf32(p + 12);
        if ((uint64_t)x->first_arc + x->n_arcs > m->n_arcs)
            return PL_ERR(PL_E_FORMAT, "g2p model: state %u: arcs out of range", s);
        /* a smaller backoff state: every chain ends at state 0 */
        if (s == 0 ? x->backoff != NO_STATE : x->backoff >= s)
            return PL_ERR(PL_E_FORMAT, "g2p model: state %u: backoff state %u", s, x->backoff);
        if (!isfinite(x->log_backoff) || x->log_backoff > 50.0f || x->log_backoff < -1000.0f)
            return PL_ERR(PL_E_FORMAT, "g2p model: state %u: backoff weight out of range", s);
    }
    for (uint32_t a = 0; a < m->n_arcs; a++, p += ARC_BYTES) {
        struct arc *x = &m->arcs[a];
        x->unit = rd16(p);
        x->q = rd16(p + 2);
        x->next = rd32(p + 4);
        if (x->unit >= m->n_units || x->unit == 1 || x->next >= m->n_states)
            return PL_ERR(PL_E_FORMAT, "g2p model: arc %u out of range", a);
    }
    for (uint32_t s = 0; s < m->n_states; s++) {
        const struct state *x = &m->states[s];
        for (uint32_t a = 1; a < x->n_arcs; a++)
            if (m->arcs[x->first_arc + a].unit <= m->arcs[x->first_arc + a - 1].unit)
                return PL_ERR(PL_E_FORMAT, "g2p model: state %u: arcs not sorted by unit", s);
    }
    return index_units(m);
}

pl_status pl_tts_g2p_load_bytes(const void *data, size_t len, struct pl_tts_g2p **out) {
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "g2p model: NULL out");
    *out = NULL;
    if (!data) return PL_ERR(PL_E_INVALID_ARG, "g2p model: NULL data");
    struct pl_tts_g2p *m = pl_calloc(1, sizeof *m);
    if (!m) return PL_ERR(PL_E_NOMEM, "g2p model");
    m->beam = PL_TTS_G2P_BEAM;
    m->threshold = PL_TTS_G2P_THRESHOLD;
    pl_status st = parse(m, data, len);
    if (st != PL_OK) {
        pl_tts_g2p_destroy(m);
        return st;
    }
    *out = m;
    return PL_OK;
}

pl_status pl_tts_g2p_load(const char *path, struct pl_tts_g2p **out) {
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "g2p model: NULL out");
    *out = NULL;
    if (!path) return PL_ERR(PL_E_INVALID_ARG, "g2p model: NULL path");
    char *data = NULL;
    size_t len = 0;
    PL_TRY(pl_read_file(path, MAX_FILE, &data, &len));
    pl_status st = pl_tts_g2p_load_bytes(data, len, out);
    pl_free(data);
    if (st != PL_OK) return PL_ERR(st, "%s: %s", path, pl_last_error());
    return PL_OK;
}

void pl_tts_g2p_set_beam(struct pl_tts_g2p *m, int beam, float threshold) {
    if (!m) return;
    m->beam = beam < 1 ? 1 : beam > 4096 ? 4096 : beam;
    m->threshold = !(threshold > 0.0f) ? PL_TTS_G2P_THRESHOLD : threshold > 1e4f ? 1e4f : threshold;
}

void pl_tts_g2p_info(const struct pl_tts_g2p *m, struct pl_tts_g2p_info *out) {
    memset(out, 0, sizeof *out);
    if (!m) return;
    out->order = m->order;
    out->n_units = m->n_units;
    out->n_states = m->n_states;
    out->n_arcs = m->n_arcs;
    out->bytes = m->bytes;
}

/* ---- search ------------------------------------------------------------------------------ */

struct hyp {
    uint32_t state;
    float score;
    int32_t parent; /* index into the kept hypotheses; -1 for the start */
    uint16_t unit;
    uint8_t primary; /* a primary stress is already in the phones */
};

struct hvec {
    struct hyp *v;
    size_t n, cap;
};

static bool hvec_push(struct hvec *h, struct hyp x) {
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 256;
        struct hyp *v = pl_realloc(h->v, nc * sizeof *v);
        if (!v) return false;
        h->v = v;
        h->cap = nc;
    }
    h->v[h->n++] = x;
    return true;
}

static int by_state_then_score(const void *a, const void *b) {
    const struct hyp *x = a, *y = b;
    if (x->state != y->state) return x->state < y->state ? -1 : 1;
    if (x->primary != y->primary) return x->primary < y->primary ? -1 : 1;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->parent < y->parent ? -1 : x->parent > y->parent;
}

static int by_score(const void *a, const void *b) {
    const struct hyp *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->state < y->state ? -1 : x->state > y->state;
}

/* Keep the best hypothesis of each (state, primary stress seen), then the beam best. */
static void prune(struct hvec *h, int beam) {
    if (h->n < 2) return;
    qsort(h->v, h->n, sizeof *h->v, by_state_then_score);
    size_t k = 0;
    for (size_t i = 0; i < h->n; i++)
        if (k == 0 || h->v[i].state != h->v[k - 1].state ||
            h->v[i].primary != h->v[k - 1].primary)
            h->v[k++] = h->v[i];
    h->n = k;
    if (h->n > (size_t)beam) {
        qsort(h->v, h->n, sizeof *h->v, by_score);
        h->n = (size_t)beam;
    }
}

/* First arc of state s with unit >= u (binary search). */
static uint32_t lower_arc(const struct pl_tts_g2p *m, const struct state *s, uint32_t u) {
    uint32_t lo = s->first_arc, hi = s->first_arc + s->n_arcs;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (m->arcs[mid].unit < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* log p(word end | state) */
static float end_score(const struct pl_tts_g2p *m, uint32_t s) {
    float bo = 0.0f;
    for (;;) {
        const struct state *x = &m->states[s];
        uint32_t a = lower_arc(m, x, 0);
        if (a < x->first_arc + x->n_arcs && m->arcs[a].unit == 0)
            return bo - (float)m->arcs[a].q / 1024.0f;
        if (s == 0) return -INFINITY;
        bo += x->log_backoff;
        s = x->backoff;
    }
}

struct search {
    struct hvec ring[3]; /* hypotheses at positions p, p+1, p+2 (index p % 3) */
    float best[3];       /* best score pushed into each ring slot */
    struct hvec kept;    /* survivors of every position, for the way back */
    uint32_t *seen;      /* [n_units] stamp: unit already extended from this hypothesis */
    uint32_t stamp;
};

/* Extend hypothesis k (in s->kept) at letter position pos by the units of range r (whose
 * letters span n letters). */
static bool extend(const struct pl_tts_g2p *m, struct search *s, int32_t k, struct range r,
                   size_t pos, int n) {
    if (r.hi == 0) return true;
    struct hyp h = s->kept.v[k];
    struct hvec *dst = &s->ring[(pos + (size_t)n) % 3];
    float bo = 0.0f;
    uint32_t st = h.state;
    for (;;) {
        const struct state *x = &m->states[st];
        uint32_t end = x->first_arc + x->n_arcs;
        for (uint32_t a = lower_arc(m, x, r.lo); a < end && m->arcs[a].unit < r.hi; a++) {
            const struct arc *arc = &m->arcs[a];
            if (s->seen[arc->unit] == s->stamp) continue;
            s->seen[arc->unit] = s->stamp;
            uint8_t primary = m->units[arc->unit].primary;
            if (h.primary && primary) continue; /* one primary stress per word */
            struct hyp nh = {arc->next, h.score + bo - (float)arc->q / 1024.0f, k, arc->unit,
                             (uint8_t)(h.primary | primary)};
            float *best = &s->best[(pos + (size_t)n) % 3];
            if (nh.score < *best - m->threshold) continue;
            if (nh.score > *best) *best = nh.score;
            if (!hvec_push(dst, nh)) return false;
        }
        if (st == 0) return true;
        bo += x->log_backoff;
        st = x->backoff;
    }
}

static size_t decode(const struct pl_tts_g2p *m, const uint8_t *w, size_t L, uint8_t *phones,
                     size_t cap) {
    struct search s = {.best = {-INFINITY, -INFINITY, -INFINITY}};
    size_t n_out = 0;
    s.seen = pl_calloc(m->n_units, sizeof *s.seen);
    if (!s.seen || !hvec_push(&s.ring[0], (struct hyp){m->start, 0.0f, -1, 1, 0})) goto done;
    for (size_t pos = 0; pos < L; pos++) {
        struct hvec *cur = &s.ring[pos % 3];
        prune(cur, m->beam);
        size_t base = s.kept.n;
        for (size_t i = 0; i < cur->n; i++)
            if (!hvec_push(&s.kept, cur->v[i])) goto done;
        cur->n = 0;
        s.best[pos % 3] = -INFINITY;
        for (size_t i = base; i < s.kept.n; i++) {
            s.stamp++;
            if (!extend(m, &s, (int32_t)i, m->one[w[pos]], pos, 1)) goto done;
            if (pos + 1 < L &&
                !extend(m, &s, (int32_t)i, m->two[w[pos] * N_LETTERS + w[pos + 1]], pos, 2))
                goto done;
        }
    }
    const struct hvec *fin = &s.ring[L % 3];
    float best = -INFINITY;
    const struct hyp *bh = NULL;
    for (size_t i = 0; i < fin->n; i++) {
        float sc = fin->v[i].score + end_score(m, fin->v[i].state);
        /* a word with a primary stress, as 99% of the dictionary's, when there is one */
        if (bh && fin->v[i].primary != bh->primary) {
            if (fin->v[i].primary < bh->primary || sc == -INFINITY) continue;
            best = -INFINITY;
        }
        if (sc > best || (sc == best && bh && by_score(&fin->v[i], bh) < 0)) {
            best = sc;
            bh = &fin->v[i];
        }
    }
    if (!bh) goto done;
    /* the way back: count the phones, then write them from the end */
    size_t total = 0;
    for (struct hyp h = *bh;; h = s.kept.v[h.parent]) {
        total += m->units[h.unit].n_phones;
        if (h.parent < 0) break;
    }
    if (total == 0 || total > cap) goto done;
    size_t at = total;
    for (struct hyp h = *bh;; h = s.kept.v[h.parent]) {
        const struct unit *u = &m->units[h.unit];
        for (int k = u->n_phones - 1; k >= 0; k--) phones[--at] = u->phones[k];
        if (h.parent < 0) break;
    }
    n_out = total;
done:
    for (int i = 0; i < 3; i++) pl_free(s.ring[i].v);
    pl_free(s.kept.v);
    pl_free(s.seen);
    return n_out;
}

size_t pl_tts_g2p_phones(const char *word, size_t len, uint8_t *phones, size_t cap, void *ud) {
    const struct pl_tts_g2p *m = ud;
    if (!m || !word || !phones || cap == 0) return 0;
    uint8_t w[PL_TTS_G2P_MAX_LETTERS];
    size_t L = 0;
    for (size_t i = 0; i < len; i++) {
        int li = letter_index((unsigned char)word[i]);
        if (li < 0 || m->one[li].hi == 0) continue; /* a letter no graphone spells alone */
        if (L == PL_TTS_G2P_MAX_LETTERS) return 0;
        w[L++] = (uint8_t)li;
    }
    if (L == 0) return 0;
    return decode(m, w, L, phones, cap);
}
