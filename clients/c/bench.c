/*
 * pl-sdk-bench: what libparley-client adds to a small unary call. Alternating blocks of
 * PunctuateText calls through the SDK (pl_client_punctuate: build the message, pack, call,
 * unpack, copy the text) and through raw gRPC C core with the request bytes encoded once (the
 * call the `parley` commands made before the SDK: a completion queue per call, one batch);
 * same channel settings, same gateway, same text. Prints each side's p50 and mean latency and
 * the ratios (docs/benchmarks.md).
 *
 *   pl-sdk-bench [--server HOST:PORT] [--calls N] [--block B] [--text T]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include <parley/client.h>

#define METHOD "/nvidia.riva.nlp.RivaLanguageUnderstanding/PunctuateText"

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* One raw call; 0 when it answered OK with a message. */
static int raw_call(grpc_channel *ch, const unsigned char *req, size_t n) {
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                                         gpr_time_from_millis(10000, GPR_TIMESPAN));
    grpc_call *call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                               grpc_slice_from_static_string(METHOD), NULL,
                                               deadline, NULL);
    grpc_slice body = grpc_slice_from_copied_buffer((const char *)req, n);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&body, 1);
    grpc_slice_unref(body);
    grpc_metadata_array init_md, trail_md;
    grpc_metadata_array_init(&init_md);
    grpc_metadata_array_init(&trail_md);
    grpc_byte_buffer *rb = NULL;
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &rb;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trail_md;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;
    int tag = 1;
    if (grpc_call_start_batch(call, ops, 6, &tag, NULL) == GRPC_CALL_OK)
        grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    int rc = status == GRPC_STATUS_OK && rb ? 0 : 1;
    grpc_byte_buffer_destroy(bb);
    if (rb) grpc_byte_buffer_destroy(rb);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&init_md);
    grpc_metadata_array_destroy(&trail_md);
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
    return rc;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void stats(double *v, int n, double *p50, double *mean) {
    qsort(v, (size_t)n, sizeof *v, cmp);
    double s = 0;
    for (int i = 0; i < n; i++) s += v[i];
    *p50 = v[n / 2];
    *mean = s / n;
}

int main(int argc, char **argv) {
    const char *server = "127.0.0.1:50051", *text = "hello world how are you today";
    int calls = 2000, block = 50;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--server")) server = argv[i + 1];
        else if (!strcmp(argv[i], "--calls")) calls = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--block")) block = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--text")) text = argv[i + 1];
        else {
            fprintf(stderr,
                    "usage: pl-sdk-bench [--server H:P] [--calls N] [--block B] [--text T]\n");
            return 2;
        }
    }
    size_t tl = strlen(text);
    if (calls < 2 || block < 1 || tl > 127) {
        fprintf(stderr, "pl-sdk-bench: --calls >= 2, --block >= 1, text under 128 bytes\n");
        return 2;
    }
    /* TextTransformRequest{text: [text]}: field 1, length-delimited */
    unsigned char req[130] = {0x0a, (unsigned char)tl};
    memcpy(req + 2, text, tl);

    struct pl_client_opts o = {.target = server, .timeout_ms = 10000};
    struct pl_client *c;
    if (pl_client_open(&o, &c) != PL_OK) {
        fprintf(stderr, "pl-sdk-bench: %s\n", pl_last_error());
        return 1;
    }
    grpc_init();
    grpc_arg args[2] = {
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, {.integer = 1 << 30}},
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = 1 << 30}},
    };
    grpc_channel_args chargs = {2, args};
    grpc_channel_credentials *cr = grpc_insecure_credentials_create();
    grpc_channel *ch = grpc_channel_create(server, cr, &chargs);
    grpc_channel_credentials_release(cr);

    double *sdk = malloc(sizeof(double) * (size_t)calls),
           *raw = malloc(sizeof(double) * (size_t)calls);
    int ns = 0, nr = 0, rc = 0;
    for (int w = 0; w < 50 && rc == 0; w++) { /* warm both up: connections, allocators */
        char *out = NULL;
        rc = pl_client_punctuate(c, text, NULL, &out) != PL_OK || raw_call(ch, req, tl + 2);
        pl_client_free(out);
    }
    while (rc == 0 && (ns < calls || nr < calls)) {
        for (int i = 0; i < block && ns < calls && rc == 0; i++) {
            char *out = NULL;
            double t0 = now_us();
            if (pl_client_punctuate(c, text, NULL, &out) != PL_OK) rc = 1;
            sdk[ns++] = now_us() - t0;
            pl_client_free(out);
        }
        for (int i = 0; i < block && nr < calls && rc == 0; i++) {
            double t0 = now_us();
            if (raw_call(ch, req, tl + 2) != 0) rc = 1;
            raw[nr++] = now_us() - t0;
        }
    }
    if (rc != 0) {
        fprintf(stderr, "pl-sdk-bench: a call failed: %s\n", pl_last_error());
    } else {
        double sp50, smean, rp50, rmean;
        stats(sdk, ns, &sp50, &smean);
        stats(raw, nr, &rp50, &rmean);
        printf("calls %d each, blocks of %d, PunctuateText \"%s\" on %s\n", calls, block, text,
               server);
        printf("raw gRPC  p50 %.1f us  mean %.1f us\n", rp50, rmean);
        printf("SDK       p50 %.1f us  mean %.1f us\n", sp50, smean);
        printf("ratio SDK/raw  p50 %.3f  mean %.3f\n", sp50 / rp50, smean / rmean);
    }
    free(sdk);
    free(raw);
    grpc_channel_destroy(ch);
    grpc_shutdown();
    pl_client_close(c);
    return rc;
}
