/*
 * transcribe_stream.c - `parley transcribe --stream FILE`: StreamingRecognize through the
 * gateway as the official streaming client does it: a first message with streaming_config
 * (interim_results on), then the file in chunks of --chunk-ms of audio (the WAV header rides in
 * the first chunk), optionally paced in real time (--realtime). Prints every interim result
 * as "~ [stability] text" and every final as "text" (plus words with --word-time-offsets).
 *
 * gRPC C core, one completion queue: one send and one receive outstanding at a time.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "alloc.h"
#include "audio.h"
#include "proto_util.h"
#include "riva/proto/riva_asr.pb-c.h"
#include "client_grpc.h"
#include "transcribe_stream.h"

enum { T_STATUS = 1, T_SEND = 2, T_RECV = 3 };

static void print_resp(grpc_byte_buffer *resp, const Nvidia__Riva__Asr__RecognitionConfig *cfg) {
    ProtobufCMessage *m = NULL;
    if (pl_client_unpack(resp, &nvidia__riva__asr__streaming_recognize_response__descriptor, &m) ==
        PL_OK) {
        Nvidia__Riva__Asr__StreamingRecognizeResponse *r = (void *)m;
        for (size_t i = 0; i < r->n_results; i++) {
            const Nvidia__Riva__Asr__StreamingRecognitionResult *res = r->results[i];
            for (size_t k = 0; k < res->n_alternatives; k++) {
                const Nvidia__Riva__Asr__SpeechRecognitionAlternative *al = res->alternatives[k];
                if (!res->is_final) {
                    printf("~ [%.2f] %s\n", res->stability, al->transcript);
                    break;
                }
                if (cfg->max_alternatives > 1)
                    printf("[%zu %.2fs conf %.3f] ", k, res->audio_processed, al->confidence);
                printf("%s\n", al->transcript);
                for (size_t w = 0; k == 0 && w < al->n_words; w++)
                    printf("    %7.3f %7.3f  %-20s %.3f\n", al->words[w]->start_time / 1000.0,
                           al->words[w]->end_time / 1000.0, al->words[w]->word,
                           al->words[w]->confidence);
            }
        }
        fflush(stdout);
    } else {
        fprintf(stderr, "parley transcribe: a response is not a StreamingRecognizeResponse\n");
    }
    pl_proto_free(m);
}

/* Bytes per second of the audio and where its samples start. */
static int audio_layout(const uint8_t *a, size_t n, const Nvidia__Riva__Asr__RecognitionConfig *cfg,
                        size_t *header, double *bytes_per_s) {
    struct pl_audio_info info;
    *header = 0;
    if (pl_audio_probe(a, n, &info) == PL_OK && info.container == PL_AUDIO_CONTAINER_WAV) {
        *header = info.data_offset;
        *bytes_per_s =
            (double)info.sample_rate * info.channels * (info.bits > 0 ? info.bits : 16) / 8.0;
        return 0;
    }
    if (pl_audio_probe(a, n, &info) == PL_OK && info.container != PL_AUDIO_CONTAINER_NONE) {
        fprintf(stderr,
                "parley transcribe: --stream takes a WAV file or raw audio (--raw), not %s\n",
                pl_audio_container_str(info.container));
        return -1;
    }
    if (cfg->sample_rate_hertz <= 0) {
        fprintf(stderr, "parley transcribe: raw audio needs --raw and --sample-rate\n");
        return -1;
    }
    int bps = cfg->encoding == NVIDIA__RIVA__AUDIO_ENCODING__LINEAR_PCM ? 2 : 1;
    *bytes_per_s = (double)cfg->sample_rate_hertz *
                   (cfg->audio_channel_count > 0 ? cfg->audio_channel_count : 1) * bps;
    return 0;
}

int pl_transcribe_stream(grpc_channel *ch, const char *api_key,
                         Nvidia__Riva__Asr__RecognitionConfig *cfg, const uint8_t *audio, size_t n,
                         int chunk_ms, bool realtime, long timeout_ms, const char *server) {
    size_t header = 0;
    double bps = 0;
    if (audio_layout(audio, n, cfg, &header, &bps) != 0) return 2;
    size_t chunk = (size_t)(bps * chunk_ms / 1000.0);
    if (bps >= 2 && chunk % 2) chunk--; /* whole 16-bit samples are not required, but tidy */
    if (chunk < 1) chunk = 1;
    grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
    grpc_call *call = grpc_channel_create_call(
        ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
        grpc_slice_from_static_string("/nvidia.riva.asr.RivaSpeechRecognition/StreamingRecognize"),
        NULL, deadline, NULL);
    struct pl_client_auth auth;
    pl_client_auth_init(&auth, api_key);
    grpc_metadata_array init_md, trail_md;
    grpc_metadata_array_init(&init_md);
    grpc_metadata_array_init(&trail_md);
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    grpc_byte_buffer *resp = NULL, *out = NULL;
    grpc_op ops[3];
    /* status */
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[0].data.recv_status_on_client.trailing_metadata = &trail_md;
    ops[0].data.recv_status_on_client.status = &status;
    ops[0].data.recv_status_on_client.status_details = &details;
    grpc_call_start_batch(call, ops, 1, (void *)(intptr_t)T_STATUS, NULL);
    /* config */
    Nvidia__Riva__Asr__StreamingRecognitionConfig sc =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNITION_CONFIG__INIT;
    sc.config = cfg;
    sc.interim_results = 1;
    Nvidia__Riva__Asr__StreamingRecognizeRequest rq =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__INIT;
    rq.streaming_request_case =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_STREAMING_CONFIG;
    rq.streaming_config = &sc;
    out = pl_client_pack(&rq.base);
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = auth.n;
    ops[0].data.send_initial_metadata.metadata = pl_client_auth_md(&auth);
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = out;
    grpc_call_start_batch(call, ops, 2, (void *)(intptr_t)T_SEND, NULL);
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[0].data.recv_initial_metadata.recv_initial_metadata = &init_md;
    ops[1].op = GRPC_OP_RECV_MESSAGE;
    ops[1].data.recv_message.recv_message = &resp;
    grpc_call_start_batch(call, ops, 2, (void *)(intptr_t)T_RECV, NULL);

    size_t off = 0;
    bool send_busy = true, closed = false, recv_done = false, status_done = false;
    gpr_timespec next_send = gpr_now(GPR_CLOCK_MONOTONIC);
    while (!(recv_done && status_done)) {
        gpr_timespec wait = gpr_inf_future(GPR_CLOCK_MONOTONIC);
        if (!send_busy && !closed) wait = realtime ? next_send : gpr_now(GPR_CLOCK_MONOTONIC);
        grpc_event ev = grpc_completion_queue_next(cq, wait, NULL);
        if (ev.type == GRPC_OP_COMPLETE) {
            int tag = (int)(intptr_t)ev.tag;
            if (tag == T_SEND) {
                send_busy = false;
                if (out) grpc_byte_buffer_destroy(out);
                out = NULL;
            } else if (tag == T_RECV) {
                if (resp) {
                    print_resp(resp, cfg);
                    grpc_byte_buffer_destroy(resp);
                    resp = NULL;
                    memset(ops, 0, sizeof ops);
                    ops[0].op = GRPC_OP_RECV_MESSAGE;
                    ops[0].data.recv_message.recv_message = &resp;
                    grpc_call_start_batch(call, ops, 1, (void *)(intptr_t)T_RECV, NULL);
                } else {
                    recv_done = true;
                }
            } else if (tag == T_STATUS) {
                status_done = true;
                recv_done = recv_done || !ev.success;
            }
        } else if (ev.type != GRPC_QUEUE_TIMEOUT) {
            break;
        }
        if (send_busy || closed || status_done) continue;
        if (realtime && gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), next_send) < 0) continue;
        memset(ops, 0, sizeof ops);
        if (off < n) {
            size_t k = off == 0 ? header + chunk : chunk;
            if (k > n - off) k = n - off;
            rq.streaming_request_case =
                NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_AUDIO_CONTENT;
            rq.audio_content.data = (uint8_t *)audio + off;
            rq.audio_content.len = k;
            off += k;
            out = pl_client_pack(&rq.base);
            ops[0].op = GRPC_OP_SEND_MESSAGE;
            ops[0].data.send_message.send_message = out;
            next_send = gpr_time_add(next_send, gpr_time_from_millis(chunk_ms, GPR_TIMESPAN));
        } else {
            ops[0].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
            closed = true;
        }
        send_busy = true;
        grpc_call_start_batch(call, ops, 1, (void *)(intptr_t)T_SEND, NULL);
    }
    int rc = 0;
    if (status != GRPC_STATUS_OK) {
        pl_client_print_status("transcribe", server, status, details);
        rc = 1;
    }
    pl_client_auth_deinit(&auth);
    if (resp) grpc_byte_buffer_destroy(resp);
    if (out) grpc_byte_buffer_destroy(out);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&init_md);
    grpc_metadata_array_destroy(&trail_md);
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
    return rc;
}
