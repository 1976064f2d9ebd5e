/*
 * fuzz_nats_msg.c - NATS messages as Parley's runtime reads them (runtime/nrpc_frame.c,
 * nrpc_worker.c): the header block of a delivered message ("NATS/1.0\r\nKey: value\r\n...
 * \r\n\r\n", parsed by cnats), the request context a worker builds from it
 * (pl__wk_ctx_from_msg: Parley-Request-Id, the deadline from Parley-Timeout-Us, Parley-User),
 * the integer headers (pl__nrpc_hdr_i64: Parley-Seq, Parley-Status), Parley-Error's copy
 * into a reply line (pl__nrpc_copy_token) and the reassembly of numbered frames
 * (Parley-Seq, Parley-More) into one payload (pl__nrpc_buf_append) with the sequence rules
 * both sides apply.
 *
 * Input: messages separated by FZ_SEP; in each, the bytes up to and including the first
 * "\r\n\r\n" are the header block, the rest the payload (no "\r\n\r\n": no headers).
 *
 * The message is built with cnats' natsMsg_create, the function its parser uses to make a
 * delivered message from the wire bytes. It is exported by libnats but not declared in
 * nats.h; the prototypes below are cnats 3.x's (src/msg.h; Debian 12 ships 3.4.1).
 */
#include <nats/nats.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "nrpc_impl.h"
#include "nrpc_worker_impl.h"
#include "util.h"

natsStatus natsMsg_create(natsMsg **newMsg, const char *subject, int subjLen, const char *reply,
                          int replyLen, const char *buf, int bufLen, int hdrLen);
/* natsMsg_Destroy hands the message to cnats' garbage-collector thread, so each run would
 * end with allocations not yet freed and libFuzzer would scan for leaks after every input
 * (a hundredfold slower); natsMsg_free (exported likewise) is what that thread calls. */
void natsMsg_free(void *object);

static struct pl_worker *g_w;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_w) {
        fz_quiet();
        struct pl_worker_opts wo = PL_WORKER_OPTS_INIT;
        wo.service = "fuzz";
        /* the library's state (its garbage collector takes destroyed messages) */
        if (nats_Open(-1) != NATS_OK || pl_worker_create(&wo, &g_w) != PL_OK) abort();
    }
    struct fz_in in = {data, size};
    struct pl__nrpc_buf buf = {0};
    int64_t recv_seq = 0;
    bool done = false;
    const uint8_t *part;
    size_t len;
    while (!done && (part = fz_next_part(&in, &len)) != NULL) {
        if (len > INT32_MAX) break;
        const uint8_t *eoh = memmem(part, len, "\r\n\r\n", 4);
        int hdr_len = eoh ? (int)(eoh + 4 - part) : 0;
        natsMsg *msg = NULL;
        if (natsMsg_create(&msg, "parley.fuzz.rpc", 15, "_INBOX.x", 8, (const char *)part,
                           (int)len, hdr_len) != NATS_OK)
            break;
        struct pl_worker_ctx ctx;
        pl__wk_ctx_from_msg(g_w, NULL, msg, pl_time_mono_us(), &ctx);
        if (!pl_request_id_valid(ctx.request_id) || ctx.deadline_us < 0) abort();

        int64_t code = 0, seq = 0;
        char line[512];
        if (pl__nrpc_hdr_i64(msg, PL_NRPC_H_STATUS, &code) && code != 0) {
            const char *e = pl__nrpc_hdr(msg, PL_NRPC_H_ERROR);
            pl__nrpc_copy_token(line, sizeof line, e ? e : pl_grpc_code_name((int)code));
            done = true;
        } else if (pl__nrpc_hdr_i64(msg, PL_NRPC_H_SEQ, &seq)) {
            const char *kind = pl__nrpc_hdr(msg, PL_NRPC_H_KIND);
            (void)pl__nrpc_hdr(msg, PL_NRPC_H_SESSION);
            (void)pl__nrpc_hdr(msg, PL_NRPC_H_RPC);
            if (seq != recv_seq + 1 || (kind && strcmp(kind, "data") != 0)) {
                done = true; /* out of sequence: DATA_LOSS */
            } else {
                recv_seq = seq;
                if (pl__nrpc_buf_append(&buf, natsMsg_GetData(msg),
                                        (size_t)natsMsg_GetDataLength(msg)) != PL_OK)
                    done = true;
                const char *more = pl__nrpc_hdr(msg, PL_NRPC_H_MORE);
                if (!more || strcmp(more, "1") != 0) done = true;
            }
        }
        const char **keys = NULL;
        int n_keys = 0;
        if (natsMsgHeader_Keys(msg, &keys, &n_keys) == NATS_OK) free((void *)keys);
        natsMsg_free(msg);
    }
    pl__nrpc_buf_reset(&buf);
    return 0;
}
