/*
 * gateway_limit.c - the gateway's per-client admission limits: a token bucket
 * (requests per second, burst) and a cap on calls open at once, per API key
 * (keys file options, else gateway.key_*), or, on a gateway without API keys,
 * per client address (gateway.peer_*, off by default).
 *
 * Every bucket lives in one array made at create time (keys) or a fixed-size
 * open-addressing table (client addresses), so a call holds a plain pointer to
 * its bucket until it ends. One mutex guards them all: admission is a few
 * arithmetic operations, far cheaper than the gRPC work around it.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "gateway_impl.h"
#include "log.h"

#define PEER_SLOTS 4096 /* client addresses tracked at once */
#define PEER_PROBE 32   /* slots looked at for one address */
#define PEER_ADDR_MAX 64

struct gw_bucket {
    double rate;       /* tokens per second; 0 = no rate limit */
    double burst;      /* bucket size */
    int max_calls;     /* calls open at once; 0 = no cap */
    double tokens;
    int64_t last_us;   /* last refill (pl_time_mono_us); 0 = never used */
    int open;          /* calls admitted and not yet ended */
    char who[96];      /* names the bucket in messages: "API key user 'alice'" */
};

struct gw_peer {
    struct gw_bucket b;
    char addr[PEER_ADDR_MAX]; /* "" = free slot */
};

struct gw_limits {
    pthread_mutex_t mu;
    struct gw_bucket *keys; /* one per API key, same index as the keys file */
    size_t n_keys;
    struct gw_peer *peers;  /* PEER_SLOTS when peer limits are on, else NULL */
};

static void bucket_init(struct gw_bucket *b, double rate, int64_t burst, int64_t max_calls) {
    b->rate = rate;
    b->burst = burst > 0 ? (double)burst : (rate > 1 ? ceil(rate) : 1);
    b->max_calls = (int)max_calls;
    b->tokens = b->burst;
}

pl_status pl__gw_limits_create(struct pl_gw *gw) {
    const struct pl_gw_config *c = &gw->cfg;
    struct gw_limits *l = pl_calloc(1, sizeof *l);
    if (!l) return PL_ERR(PL_E_NOMEM, "gateway limits: out of memory");
    pthread_mutex_init(&l->mu, NULL);
    gw->limits = l;
    l->n_keys = pl_gw_keys_count(gw->keys);
    if (l->n_keys) {
        l->keys = pl_calloc(l->n_keys, sizeof *l->keys);
        if (!l->keys) return PL_ERR(PL_E_NOMEM, "gateway limits: out of memory");
    }
    for (size_t i = 0; i < l->n_keys; i++) {
        struct pl_gw_key_limits k = pl_gw_keys_limits(gw->keys, i);
        struct gw_bucket *b = &l->keys[i];
        bucket_init(b, k.rate >= 0 ? k.rate : c->key_rate, k.burst >= 0 ? k.burst : c->key_burst,
                    k.max_calls >= 0 ? k.max_calls : c->key_max_calls);
        snprintf(b->who, sizeof b->who, "API key user '%s'", pl_gw_keys_user(gw->keys, i));
        if (b->rate > 0 || b->max_calls > 0)
            PL_LOGI("limits of %s: %g requests/s (burst %g), %d open calls (0 = no cap)", b->who,
                    b->rate, b->rate > 0 ? b->burst : 0, b->max_calls);
    }
    if (!gw->keys && (c->peer_rate > 0 || c->peer_max_calls > 0)) {
        l->peers = pl_calloc(PEER_SLOTS, sizeof *l->peers);
        if (!l->peers) return PL_ERR(PL_E_NOMEM, "gateway limits: out of memory");
        PL_LOGI("limits per client address: %g requests/s (burst %lld), %lld open calls", c->peer_rate,
                (long long)c->peer_burst, (long long)c->peer_max_calls);
    }
    return PL_OK;
}

void pl__gw_limits_destroy(struct pl_gw *gw) {
    struct gw_limits *l = gw->limits;
    if (!l) return;
    pthread_mutex_destroy(&l->mu);
    pl_free(l->keys);
    pl_free(l->peers);
    pl_free(l);
    gw->limits = NULL;
}

/* The address part of a gRPC peer string: "ipv4:10.0.0.1:5312" -> "10.0.0.1",
 * "ipv6:[::1]:5312" -> "[::1]"; other forms (unix:...) whole. */
void pl__gw_peer_addr(const char *peer, char *out, size_t cap) {
    const char *p = peer ? peer : "";
    if (strncmp(p, "ipv4:", 5) == 0 || strncmp(p, "ipv6:", 5) == 0) {
        p += 5;
        const char *colon = strrchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        snprintf(out, cap, "%.*s", (int)n, p);
        return;
    }
    snprintf(out, cap, "%s", p);
}

static uint32_t hash(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* The bucket of a client address: its slot, a free one, or the longest idle one without open
 * calls among the probed slots; NULL when all of those have calls open. Caller holds l->mu. */
static struct gw_bucket *peer_bucket(struct pl_gw *gw, const char *addr) {
    struct gw_limits *l = gw->limits;
    uint32_t h = hash(addr);
    struct gw_peer *spare = NULL;
    for (int i = 0; i < PEER_PROBE; i++) {
        struct gw_peer *p = &l->peers[(h + (uint32_t)i) % PEER_SLOTS];
        if (p->addr[0] && strcmp(p->addr, addr) == 0) return &p->b;
        if (!p->addr[0]) {
            if (!spare || spare->addr[0]) spare = p;
        } else if (p->b.open == 0 && (!spare || (spare->addr[0] && p->b.last_us < spare->b.last_us))) {
            spare = p;
        }
    }
    if (!spare) return NULL;
    memset(spare, 0, sizeof *spare);
    snprintf(spare->addr, sizeof spare->addr, "%s", addr);
    bucket_init(&spare->b, gw->cfg.peer_rate, gw->cfg.peer_burst, gw->cfg.peer_max_calls);
    snprintf(spare->b.who, sizeof spare->b.who, "client %s", addr);
    return &spare->b;
}

/* Take one call from b: false with msg and *retry_ms (0 = no estimate) when over a limit.
 * Caller holds the mutex. */
static bool take(struct gw_bucket *b, char *msg, size_t cap, int64_t *retry_ms) {
    int64_t now = pl_time_mono_us();
    if (b->rate > 0) {
        if (b->last_us) b->tokens += (double)(now - b->last_us) * 1e-6 * b->rate;
        if (b->tokens > b->burst) b->tokens = b->burst;
        b->last_us = now;
    } else {
        b->last_us = now;
    }
    if (b->max_calls > 0 && b->open >= b->max_calls) {
        snprintf(msg, cap,
                 "concurrency limit of %s reached: %d calls or streams open at once; retry after "
                 "one of them ends",
                 b->who, b->max_calls);
        return false;
    }
    if (b->rate > 0 && b->tokens < 1) {
        int64_t ms = (int64_t)ceil((1 - b->tokens) / b->rate * 1000);
        *retry_ms = ms > 0 ? ms : 1;
        snprintf(msg, cap, "rate limit of %s exceeded: %g requests/s, burst %g; retry after %lld ms",
                 b->who, b->rate, b->burst, (long long)*retry_ms);
        return false;
    }
    if (b->rate > 0) b->tokens -= 1;
    b->open++;
    return true;
}

bool pl__gw_limits_admit(struct pl_gw *gw, long key, const char *peer, struct gw_bucket **out,
                         char *msg, size_t cap, int64_t *retry_ms) {
    struct gw_limits *l = gw->limits;
    *out = NULL;
    *retry_ms = 0;
    if (!l || (key < 0 && !l->peers)) return true;
    char addr[PEER_ADDR_MAX];
    if (key < 0) pl__gw_peer_addr(peer, addr, sizeof addr);
    pthread_mutex_lock(&l->mu);
    struct gw_bucket *b = key >= 0 ? ((size_t)key < l->n_keys ? &l->keys[key] : NULL)
                                   : peer_bucket(gw, addr);
    bool ok = true;
    if (!b && key < 0) {
        snprintf(msg, cap, "limits: %d client addresses with open calls share this gateway's "
                 "table; retry after 1000 ms", PEER_PROBE);
        *retry_ms = 1000;
        ok = false;
    } else if (b && (b->rate > 0 || b->max_calls > 0)) {
        ok = take(b, msg, cap, retry_ms);
        if (ok) *out = b;
    }
    pthread_mutex_unlock(&l->mu);
    return ok;
}

void pl__gw_limits_release(struct pl_gw *gw, struct gw_bucket *b) {
    if (!b) return;
    pthread_mutex_lock(&gw->limits->mu);
    if (b->open > 0) b->open--;
    pthread_mutex_unlock(&gw->limits->mu);
}
