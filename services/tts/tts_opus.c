/*
 * tts_opus.c - a streaming Ogg/Opus writer for parley-tts (tts_service_impl.h): samples in as
 * the voice makes them, complete Ogg pages out at once, so that SynthesizeOnline's OGGOPUS
 * responses concatenate into one Ogg/Opus stream per request (RFC 7845) and the first page
 * of audio leaves with the first block. common/audio.h's encoder (libsndfile) writes whole
 * files only.
 *
 * Layout: page 1 = OpusHead (19 bytes: "OpusHead", version 1, 1 channel, pre-skip, input rate,
 * gain 0, mapping family 0), page 2 = OpusTags ("OpusTags", vendor "parley", no comments),
 * then 20 ms packets, flushed into pages at the end of every write. Granule positions count
 * 48 kHz samples from the start of decoding, pre-skip included: 960 per packet; the last
 * packet's is pre-skip + the input's length, which trims the zero padding of the last frame
 * (RFC 7845 §4.4).
 */
#include <ogg/ogg.h>
#include <opus/opus.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "tts_service_impl.h"

#define MAX_PACKET 4000

struct pl__tts_opus {
    OpusEncoder *enc;
    ogg_stream_state os;
    int rate;
    int frame;           /* samples per 20 ms packet at rate */
    float *buf;          /* [frame] samples of the packet being filled */
    int n_buf;
    int64_t packetno;    /* next packet number */
    int64_t n_in;        /* samples written, at rate */
    int64_t granule;     /* 48 kHz samples of the packets so far */
    int pre_skip;        /* 48 kHz samples */
    bool headers_out;
};

void pl__tts_opus_destroy(struct pl__tts_opus *o) {
    if (!o) return;
    if (o->enc) opus_encoder_destroy(o->enc);
    ogg_stream_clear(&o->os);
    pl_free(o->buf);
    pl_free(o);
}

pl_status pl__tts_opus_create(int rate, struct pl__tts_opus **out) {
    *out = NULL;
    if (rate != 8000 && rate != 12000 && rate != 16000 && rate != 24000 && rate != 48000)
        return PL_ERR(PL_E_INVALID_ARG, "opus: rate %d (8000, 12000, 16000, 24000, 48000)", rate);
    struct pl__tts_opus *o = pl_calloc(1, sizeof *o);
    if (!o) return PL_ERR(PL_E_NOMEM, "opus writer");
    static _Atomic unsigned serial_seq;
    int serial = (int)((unsigned)time(NULL) * 2654435761u + serial_seq++);
    if (ogg_stream_init(&o->os, serial) != 0) {
        pl_free(o);
        return PL_ERR(PL_E_NOMEM, "ogg stream");
    }
    o->rate = rate;
    o->frame = rate / 50;
    int err = 0;
    o->enc = opus_encoder_create(rate, 1, OPUS_APPLICATION_AUDIO, &err);
    o->buf = pl_malloc((size_t)o->frame * sizeof *o->buf);
    if (!o->enc || !o->buf) {
        pl__tts_opus_destroy(o);
        return err != OPUS_OK ? PL_ERR(PL_E_INTERNAL, "opus encoder: %s", opus_strerror(err))
                              : PL_ERR(PL_E_NOMEM, "opus writer");
    }
    opus_int32 look = 0;
    opus_encoder_ctl(o->enc, OPUS_GET_LOOKAHEAD(&look));
    o->pre_skip = (int)(look * (48000 / rate));
    *out = o;
    return PL_OK;
}

/* Append every page the stream has ready (flush: also an unfinished one). */
static pl_status take_pages(struct pl__tts_opus *o, uint8_t **b, size_t *n, size_t *cap) {
    ogg_page pg;
    while (ogg_stream_flush(&o->os, &pg) != 0) {
        size_t need = *n + (size_t)pg.header_len + (size_t)pg.body_len;
        if (need > *cap) {
            size_t c = *cap ? *cap * 2 : 8192;
            while (c < need) c *= 2;
            uint8_t *q = pl_realloc(*b, c);
            if (!q) return PL_ERR(PL_E_NOMEM, "opus pages");
            *b = q;
            *cap = c;
        }
        memcpy(*b + *n, pg.header, (size_t)pg.header_len);
        memcpy(*b + *n + pg.header_len, pg.body, (size_t)pg.body_len);
        *n = need;
    }
    return PL_OK;
}

static void put_le(uint8_t *p, uint32_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static pl_status packet_in(struct pl__tts_opus *o, uint8_t *data, long len, int64_t gp, bool bos,
                           bool eos) {
    ogg_packet p;
    memset(&p, 0, sizeof p);
    p.packet = data;
    p.bytes = len;
    p.b_o_s = bos;
    p.e_o_s = eos;
    p.granulepos = gp;
    p.packetno = o->packetno++;
    if (ogg_stream_packetin(&o->os, &p) != 0) return PL_ERR(PL_E_INTERNAL, "ogg packet");
    return PL_OK;
}

/* Encode the full buffer as one packet; last: it ends the stream. */
static pl_status encode_frame(struct pl__tts_opus *o, bool last) {
    uint8_t pkt[MAX_PACKET];
    opus_int32 len = opus_encode_float(o->enc, o->buf, o->frame, pkt, MAX_PACKET);
    if (len < 0) return PL_ERR(PL_E_INTERNAL, "opus encode: %s", opus_strerror(len));
    int64_t prev = o->granule;
    o->granule += 960;
    int64_t gp = o->granule;
    if (last) { /* trim the padding, never going back before the previous packet */
        int64_t end = o->pre_skip + o->n_in * (48000 / o->rate);
        if (end < gp) gp = end > prev ? end : prev;
    }
    o->n_buf = 0;
    return packet_in(o, pkt, len, gp, false, last);
}

pl_status pl__tts_opus_write(struct pl__tts_opus *o, const float *pcm, size_t n, bool last,
                             uint8_t **out, size_t *len) {
    uint8_t *b = NULL;
    size_t nb = 0, cap = 0;
    pl_status st = PL_OK;
    *out = NULL;
    *len = 0;
    if (!o->headers_out) {
        uint8_t head[19];
        memcpy(head, "OpusHead", 8);
        head[8] = 1;
        head[9] = 1;
        put_le(head + 10, (uint32_t)o->pre_skip, 2);
        put_le(head + 12, (uint32_t)o->rate, 4);
        put_le(head + 16, 0, 2);
        head[18] = 0;
        uint8_t tags[8 + 4 + 6 + 4];
        memcpy(tags, "OpusTags", 8);
        put_le(tags + 8, 6, 4);
        memcpy(tags + 12, "parley", 6);
        put_le(tags + 18, 0, 4);
        PL_TRY_GOTO(st, packet_in(o, head, sizeof head, 0, true, false));
        PL_TRY_GOTO(st, take_pages(o, &b, &nb, &cap)); /* OpusHead alone on page 1 */
        PL_TRY_GOTO(st, packet_in(o, tags, sizeof tags, 0, false, false));
        PL_TRY_GOTO(st, take_pages(o, &b, &nb, &cap));
        o->headers_out = true;
    }
    for (size_t i = 0; i < n; i++) {
        o->buf[o->n_buf++] = pcm[i];
        o->n_in++;
        if (o->n_buf == o->frame) {
            /* the last packet must cover pre-skip + every input sample */
            bool done = last && i + 1 == n &&
                        o->granule + 960 >= o->pre_skip + o->n_in * (48000 / o->rate);
            PL_TRY_GOTO(st, encode_frame(o, done));
            if (done) last = false; /* ended */
        }
    }
    if (last) {
        /* pad with silence until the packets cover pre-skip and all the input */
        int64_t need = o->pre_skip + o->n_in * (48000 / o->rate);
        do {
            memset(o->buf + o->n_buf, 0, (size_t)(o->frame - o->n_buf) * sizeof *o->buf);
            o->n_buf = o->frame;
            PL_TRY_GOTO(st, encode_frame(o, o->granule + 960 >= need));
        } while (o->granule < need);
    }
    PL_TRY_GOTO(st, take_pages(o, &b, &nb, &cap));
    *out = b;
    *len = nb;
    return PL_OK;
fail:
    pl_free(b);
    return st;
}
