/*
 * test_grpc.h - a plain gRPC C core client for tests (unit suites and the integration
 * client): one insecure channel with a pluck completion queue, batches that wait for their
 * own tag, and a whole unary call.
 *
 * Not Check-specific: failures come back as return values. Thread-safety: one
 * struct pl_test_grpc per thread.
 */
#ifndef PL_TEST_GRPC_H
#define PL_TEST_GRPC_H

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <stdbool.h>
#include <stddef.h>

struct pl_test_grpc {
    grpc_channel *ch;
    grpc_completion_queue *cq; /* for pluck */
};

/* Open an insecure channel to target ("127.0.0.1:PORT"). grpc_init() is the caller's. */
void pl_test_grpc_open(struct pl_test_grpc *g, const char *target);
/* Same, to 127.0.0.1:port. */
void pl_test_grpc_open_port(struct pl_test_grpc *g, int port);
void pl_test_grpc_close(struct pl_test_grpc *g);

/* The realtime deadline ms milliseconds from now. */
gpr_timespec pl_test_grpc_in_ms(int ms);

/* Start ops on c and wait up to timeout_ms for their tag. Returns 1 when the batch completed
 * with success, 0 when it completed without, -1 when it could not start or timed out. */
int pl_test_grpc_batch(struct pl_test_grpc *g, grpc_call *c, grpc_op *ops, size_t n, void *tag,
                       int timeout_ms);

/* A byte buffer holding a copy of p[0..n). Caller owns: grpc_byte_buffer_destroy(). */
grpc_byte_buffer *pl_test_grpc_bb(const void *p, size_t n);
/* All bytes of bb in one slice. Caller owns: grpc_slice_unref(). */
grpc_slice pl_test_grpc_slice(grpc_byte_buffer *bb);
/* True when bb holds exactly p[0..n). */
bool pl_test_grpc_bb_equals(grpc_byte_buffer *bb, const void *p, size_t n);

/*
 * One unary call of method ("/pkg.Service/Method") with request req[0..n), the n_md metadata
 * entries md (may be NULL) and a deadline timeout_ms from now.
 * Returns the call's grpc_status_code, or -1 when the batch failed to complete.
 * OUT resp (may be NULL): the answer message, caller owns (grpc_byte_buffer_destroy());
 * NULL when there was none. OUT details (may be NULL): the status details, NUL-terminated,
 * cut to dcap - 1 bytes.
 */
int pl_test_grpc_unary(struct pl_test_grpc *g, const char *method, const void *req, size_t n,
                       grpc_metadata *md, size_t n_md, int timeout_ms, grpc_byte_buffer **resp,
                       char *details, size_t dcap);

#endif
