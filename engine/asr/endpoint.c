/*
 * endpoint.c - endpointing state machine (endpoint.h).
 *
 * Each frame gets a vote (voiced, silent or neither) kept in a ring as long
 * as the longest window. Every window keeps a running count of its votes over
 * the frames [max(since, t - N + 1), t], where `since` is the frame after the
 * last state change: a new frame adds its vote and the frame that leaves the
 * window (if it was counted) takes its vote away, so a frame costs O(1).
 */
#include "endpoint.h"

#include <math.h>
#include <string.h>

#include "alloc.h"

/* VOTE_TAIL: a quiet frame of the tail, silent for the EOU window only */
enum { VOTE_VOICED = 1, VOTE_SILENT = 2, VOTE_TAIL = 4 };

struct pl_endpoint {
    struct pl_endpoint_params p;
    uint8_t *ring; /* votes, frame t at t % ring_len */
    int ring_len;
    int64_t t;     /* frames consumed */
    int64_t since; /* first frame the windows count */
    int n_start;   /* voiced frames in the start window */
    int n_stop;    /* silent frames in the stop window */
    int n_eou;     /* silent frames in the EOU window */
    bool speech;
    bool eou_armed;
    int64_t begin, last_voiced;
    int utterance;
    float gate;      /* energy ratio under the peak that makes a frame quiet (0: off) */
    float peak;      /* loudest frame energy of the utterance */
    int64_t run0;    /* first frame of the trailing run of quiet or silent frames */
    int silent_run;  /* trailing silent frames */
};

static int need_of(float thr, int frames) {
    /* the epsilon keeps 0.3f * 10 = 3.0000001 at 3 */
    int need = (int)ceil((double)thr * frames - 1e-6);
    if (need < 1) need = 1;
    if (need > frames) need = frames;
    return need;
}

static int frames_of(int32_t ms, int frame_ms) {
    int f = (int)((ms + frame_ms - 1) / frame_ms);
    return f < 1 ? 1 : f;
}

static pl_status check_history(const char *name, int32_t ms) {
    if (ms < 0 || ms > PL_ENDPOINT_MAX_HISTORY_MS)
        return PL_ERR(PL_E_INVALID_ARG, "endpointing: %s = %d ms, want 0..%d", name, (int)ms,
                      PL_ENDPOINT_MAX_HISTORY_MS);
    return PL_OK;
}

static pl_status check_threshold(const char *name, float v) {
    if (!(v >= 0.0f && v <= 1.0f))
        return PL_ERR(PL_E_INVALID_ARG, "endpointing: %s = %g, want 0..1", name, (double)v);
    return PL_OK;
}

pl_status pl_endpoint_params_resolve(const struct pl_endpoint_config *cfg, int frame_ms,
                                     struct pl_endpoint_params *out) {
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "pl_endpoint_params_resolve: out is NULL");
    memset(out, 0, sizeof *out);
    if (frame_ms < 1 || frame_ms > 1000)
        return PL_ERR(PL_E_INVALID_ARG, "endpointing: frame length %d ms, want 1..1000", frame_ms);
    static const struct pl_endpoint_config none;
    if (!cfg) cfg = &none;
    int32_t start_h = cfg->has_start_history ? cfg->start_history : PL_ENDPOINT_START_HISTORY_MS;
    float start_t = cfg->has_start_threshold ? cfg->start_threshold : PL_ENDPOINT_START_THRESHOLD;
    int32_t stop_h = cfg->has_stop_history ? cfg->stop_history : PL_ENDPOINT_STOP_HISTORY_MS;
    float stop_t = cfg->has_stop_threshold ? cfg->stop_threshold : PL_ENDPOINT_STOP_THRESHOLD;
    int32_t eou_h =
        cfg->has_stop_history_eou ? cfg->stop_history_eou : PL_ENDPOINT_STOP_HISTORY_EOU_MS;
    float eou_t =
        cfg->has_stop_threshold_eou ? cfg->stop_threshold_eou : PL_ENDPOINT_STOP_THRESHOLD_EOU;
    PL_TRY(check_history("start_history", start_h));
    PL_TRY(check_threshold("start_threshold", start_t));
    PL_TRY(check_history("stop_history", stop_h));
    PL_TRY(check_threshold("stop_threshold", stop_t));
    bool eou_on = eou_h >= 0 && !(eou_t < 0.0f);
    if (eou_on) {
        PL_TRY(check_history("stop_history_eou", eou_h));
        PL_TRY(check_threshold("stop_threshold_eou", eou_t));
    }
    out->frame_ms = frame_ms;
    out->start_frames = frames_of(start_h, frame_ms);
    out->start_need = need_of(start_t, out->start_frames);
    out->stop_frames = frames_of(stop_h, frame_ms);
    out->stop_need = need_of(stop_t, out->stop_frames);
    if (eou_on) {
        out->eou_frames = frames_of(eou_h, frame_ms);
        out->eou_need = need_of(eou_t, out->eou_frames);
    }
    out->vad_threshold = PL_ENDPOINT_VAD_THRESHOLD;
    out->blank_threshold = PL_ENDPOINT_BLANK_THRESHOLD;
    out->tail_confirm = PL_ENDPOINT_TAIL_CONFIRM;
    return PL_OK;
}

static bool window_ok(int frames, int need, bool may_be_off) {
    if (may_be_off && frames == 0) return true;
    return frames >= 1 && need >= 1 && need <= frames;
}

pl_status pl_endpoint_create(const struct pl_endpoint_params *p, struct pl_endpoint **out) {
    if (!out) return PL_ERR(PL_E_INVALID_ARG, "pl_endpoint_create: out is NULL");
    *out = NULL;
    if (!p) return PL_ERR(PL_E_INVALID_ARG, "pl_endpoint_create: params is NULL");
    if (!window_ok(p->start_frames, p->start_need, false) ||
        !window_ok(p->stop_frames, p->stop_need, false) ||
        !window_ok(p->eou_frames, p->eou_need, true) || p->frame_ms < 1 ||
        isnan(p->vad_threshold) || isnan(p->blank_threshold) ||
        !(p->tail_gate_db >= 0.0f && p->tail_gate_db <= 200.0f) || p->tail_confirm < 1 ||
        (p->combine != PL_ENDPOINT_COMBINE_AGREE && p->combine != PL_ENDPOINT_COMBINE_BLANK_ENDS))
        return PL_ERR(PL_E_INVALID_ARG,
                      "pl_endpoint_create: inconsistent params (start %d/%d, stop %d/%d, "
                      "eou %d/%d frames, combine %d, tail gate %g dB after %d frames)",
                      p->start_need, p->start_frames, p->stop_need, p->stop_frames, p->eou_need,
                      p->eou_frames, p->combine, (double)p->tail_gate_db, p->tail_confirm);
    struct pl_endpoint *ep = pl_calloc(1, sizeof *ep);
    if (!ep) return PL_ERR(PL_E_NOMEM, "pl_endpoint_create");
    ep->p = *p;
    ep->gate = p->tail_gate_db > 0.0f ? powf(10.0f, -p->tail_gate_db / 10.0f) : 0.0f;
    ep->ring_len = p->start_frames;
    if (p->stop_frames > ep->ring_len) ep->ring_len = p->stop_frames;
    if (p->eou_frames > ep->ring_len) ep->ring_len = p->eou_frames;
    ep->ring = pl_calloc((size_t)ep->ring_len, 1);
    if (!ep->ring) {
        pl_free(ep);
        return PL_ERR(PL_E_NOMEM, "pl_endpoint_create: %d frames", ep->ring_len);
    }
    pl_endpoint_reset(ep);
    *out = ep;
    return PL_OK;
}

void pl_endpoint_destroy(struct pl_endpoint *ep) {
    if (!ep) return;
    pl_free(ep->ring);
    pl_free(ep);
}

static void restart_windows(struct pl_endpoint *ep, int64_t since) {
    ep->since = since;
    ep->n_start = ep->n_stop = ep->n_eou = 0;
    ep->peak = 0.0f;
    ep->run0 = since;
    ep->silent_run = 0;
}

void pl_endpoint_reset(struct pl_endpoint *ep) {
    memset(ep->ring, 0, (size_t)ep->ring_len);
    ep->t = 0;
    restart_windows(ep, 0);
    ep->speech = false;
    ep->eou_armed = false;
    ep->begin = ep->last_voiced = -1;
    ep->utterance = 0;
}

bool pl_endpoint_in_speech(const struct pl_endpoint *ep) { return ep->speech; }
int64_t pl_endpoint_frames(const struct pl_endpoint *ep) { return ep->t; }

static void emit(struct pl_endpoint *ep, enum pl_endpoint_event_type type, bool at_finish,
                 pl_endpoint_event_fn fn, void *ud) {
    if (!fn) return;
    struct pl_endpoint_event ev = {.type = type,
                                   .frame = at_finish ? ep->t : ep->t - 1,
                                   .begin = ep->begin,
                                   .last = ep->last_voiced,
                                   .utterance = ep->utterance,
                                   .at_finish = at_finish};
    fn(ud, &ev);
}

/* The vote of frame `frame` leaves a window of `len` frames as frame + len
 * arrives: it counted if it was at or after `since`. */
static int leaving(const struct pl_endpoint *ep, int len, int kind) {
    int64_t old = ep->t - len;
    if (len == 0 || old < ep->since) return 0;
    return (ep->ring[old % ep->ring_len] & kind) != 0;
}

/* The quiet tail (endpoint.h): frame t (voted, counted) with its energy e. When the silence
 * is confirmed, the quiet frames of the run before it still in the EOU window turn silent
 * for that window. */
static void quiet_tail(struct pl_endpoint *ep, int64_t t, uint8_t vote, float e) {
    if (e > ep->peak) ep->peak = e;
    bool silent = (vote & VOTE_SILENT) != 0;
    if (!silent && !(e <= ep->peak * ep->gate)) ep->run0 = t + 1;
    ep->silent_run = silent ? ep->silent_run + 1 : 0;
    if (ep->silent_run != ep->p.tail_confirm) return;
    int64_t from = ep->run0, upto = t - ep->p.tail_confirm + 1;
    if (from < ep->since) from = ep->since;
    if (from < t - ep->p.eou_frames + 1) from = t - ep->p.eou_frames + 1;
    for (int64_t f = from; f < upto; f++) {
        uint8_t *v = &ep->ring[f % ep->ring_len];
        if (*v & (VOTE_SILENT | VOTE_TAIL)) continue;
        *v |= VOTE_TAIL;
        ep->n_eou++;
    }
}

static void step(struct pl_endpoint *ep, uint8_t vote, float energy, pl_endpoint_event_fn fn,
                 void *ud) {
    const struct pl_endpoint_params *p = &ep->p;
    int64_t t = ep->t;
    /* take leaving votes out before the ring slot is overwritten */
    ep->n_start -= leaving(ep, p->start_frames, VOTE_VOICED);
    ep->n_stop -= leaving(ep, p->stop_frames, VOTE_SILENT);
    ep->n_eou -= leaving(ep, p->eou_frames, VOTE_SILENT | VOTE_TAIL);
    ep->ring[t % ep->ring_len] = vote;
    ep->n_start += (vote & VOTE_VOICED) != 0;
    ep->n_stop += (vote & VOTE_SILENT) != 0;
    ep->n_eou += (vote & VOTE_SILENT) != 0;
    if (vote & VOTE_VOICED) ep->last_voiced = t;
    ep->t = t + 1;
    if (ep->speech && ep->gate > 0.0f && energy >= 0.0f && p->eou_frames > 0 && t >= ep->since)
        quiet_tail(ep, t, vote, energy);

    if (!ep->speech) {
        if (ep->n_start < p->start_need) return;
        int64_t from = t - p->start_frames + 1;
        if (from < ep->since) from = ep->since;
        while (from < t && !(ep->ring[from % ep->ring_len] & VOTE_VOICED)) from++;
        ep->speech = true;
        ep->begin = from;
        ep->eou_armed = p->eou_frames > 0;
        restart_windows(ep, t + 1);
        emit(ep, PL_ENDPOINT_START, false, fn, ud);
        return;
    }
    if (ep->n_stop >= p->stop_need) {
        emit(ep, PL_ENDPOINT_END, false, fn, ud);
        ep->speech = false;
        ep->eou_armed = false;
        ep->utterance++;
        restart_windows(ep, t + 1);
        return;
    }
    if (p->eou_frames > 0) {
        if (ep->n_eou >= p->eou_need) {
            if (ep->eou_armed) {
                ep->eou_armed = false;
                emit(ep, PL_ENDPOINT_EOU, false, fn, ud);
            }
        } else {
            ep->eou_armed = true;
        }
    }
}

pl_status pl_endpoint_feed(struct pl_endpoint *ep, const float *vad_prob, const float *blank_prob,
                           size_t n, pl_endpoint_event_fn fn, void *ud) {
    return pl_endpoint_feed_energy(ep, vad_prob, blank_prob, NULL, n, fn, ud);
}

pl_status pl_endpoint_feed_energy(struct pl_endpoint *ep, const float *vad_prob,
                                  const float *blank_prob, const float *energy, size_t n,
                                  pl_endpoint_event_fn fn, void *ud) {
    if (!ep) return PL_ERR(PL_E_INVALID_ARG, "pl_endpoint_feed: endpoint is NULL");
    if (n == 0) return PL_OK;
    if (!vad_prob && !blank_prob)
        return PL_ERR(PL_E_INVALID_ARG, "pl_endpoint_feed: neither VAD nor blank probabilities");
    for (size_t i = 0; i < n; i++)
        if ((vad_prob && isnan(vad_prob[i])) || (blank_prob && isnan(blank_prob[i])))
            return PL_ERR(PL_E_INVALID_ARG, "pl_endpoint_feed: NaN probability at frame %lld",
                          (long long)(ep->t + (int64_t)i));
    for (size_t i = 0; energy && i < n; i++)
        if (!(energy[i] >= 0.0f))
            return PL_ERR(PL_E_INVALID_ARG, "pl_endpoint_feed: energy %g at frame %lld",
                          (double)energy[i], (long long)(ep->t + (int64_t)i));
    const float vt = ep->p.vad_threshold, bt = ep->p.blank_threshold;
    /* BLANK_ENDS: with blanks given, the VAD has no say on silence */
    const bool vad_silence = !(blank_prob && ep->p.combine == PL_ENDPOINT_COMBINE_BLANK_ENDS);
    for (size_t i = 0; i < n; i++) {
        bool v_speech = !vad_prob || vad_prob[i] >= vt;
        bool v_silent = !vad_prob || !vad_silence || vad_prob[i] < vt;
        bool b_speech = !blank_prob || blank_prob[i] < bt;
        bool b_silent = !blank_prob || blank_prob[i] >= bt;
        uint8_t vote = (uint8_t)((v_speech && b_speech ? VOTE_VOICED : 0) |
                                 (v_silent && b_silent ? VOTE_SILENT : 0));
        step(ep, vote, energy ? energy[i] : -1.0f, fn, ud);
    }
    return PL_OK;
}

void pl_endpoint_finish(struct pl_endpoint *ep, pl_endpoint_event_fn fn, void *ud) {
    if (!ep || !ep->speech) return;
    emit(ep, PL_ENDPOINT_END, true, fn, ud);
    ep->speech = false;
    ep->eou_armed = false;
    ep->utterance++;
    restart_windows(ep, ep->t);
}
