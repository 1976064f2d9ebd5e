/*
 * transcribe_stream.c - `parley transcribe --stream FILE`: StreamingRecognize through the
 * gateway as the official streaming client does it: a first message with streaming_config
 * (interim_results on), then the file in chunks of --chunk-ms of audio (the WAV header rides in
 * the first chunk), optionally paced in real time (--realtime). Prints every interim result
 * as "~ [stability] text" and every final as "text" (plus words with --word-time-offsets).
 *
 * The call is libparley-client's stream helper (pl__rpc_stream, clients/c/client_rpc.h): one send
 * and one receive outstanding at a time.
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

void pl_transcribe_print_json(Nvidia__Riva__Asr__SpeechRecognitionAlternative *const *alts,
                              size_t n_alts, int channel, float audio_processed, bool is_final,
                              float stability) {
    const Nvidia__Riva__Asr__SpeechRecognitionAlternative *best = n_alts ? alts[0] : NULL;
    printf("{\"transcript\": ");
    pl_client_json_str(stdout, best ? best->transcript : "");
    printf(", \"confidence\": %.6g, \"channel\": %d, \"audio_processed\": %.3f, "
           "\"is_final\": %s", best ? best->confidence : 0.0, channel, audio_processed,
           is_final ? "true" : "false");
    if (!is_final) printf(", \"stability\": %.6g", stability);
    printf(", \"alternatives\": [");
    for (size_t k = 0; k < n_alts; k++) {
        if (k) printf(", ");
        pl_client_json_str(stdout, alts[k]->transcript);
    }
    printf("], \"words\": [");
    for (size_t w = 0; best && w < best->n_words; w++) {
        printf("%s{\"word\": ", w ? ", " : "");
        pl_client_json_str(stdout, best->words[w]->word);
        printf(", \"start_ms\": %d, \"end_ms\": %d, \"confidence\": %.6g}",
               best->words[w]->start_time, best->words[w]->end_time, best->words[w]->confidence);
    }
    printf("]}");
}

/* --json: one result per line (JSON Lines), interim ones with is_final false. */
static void print_resp(grpc_byte_buffer *resp, const Nvidia__Riva__Asr__RecognitionConfig *cfg,
                       bool json) {
    ProtobufCMessage *m = NULL;
    if (pl_client_unpack(resp, &nvidia__riva__asr__streaming_recognize_response__descriptor, &m) ==
        PL_OK) {
        Nvidia__Riva__Asr__StreamingRecognizeResponse *r = (void *)m;
        for (size_t i = 0; i < r->n_results; i++) {
            const Nvidia__Riva__Asr__StreamingRecognitionResult *res = r->results[i];
            if (json) {
                pl_transcribe_print_json(res->alternatives, res->n_alternatives, res->channel_tag,
                                         res->audio_processed, res->is_final, res->stability);
                printf("\n");
                continue;
            }
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
                         int chunk_ms, bool realtime, long timeout_ms, const char *server,
                         bool json) {
    size_t header = 0;
    double bps = 0;
    if (audio_layout(audio, n, cfg, &header, &bps) != 0) return 2;
    size_t chunk = (size_t)(bps * chunk_ms / 1000.0);
    if (bps >= 2 && chunk % 2) chunk--; /* whole 16-bit samples are not required, but tidy */
    if (chunk < 1) chunk = 1;
    /* config first, with interim results */
    Nvidia__Riva__Asr__StreamingRecognitionConfig sc =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNITION_CONFIG__INIT;
    sc.config = cfg;
    sc.interim_results = 1;
    Nvidia__Riva__Asr__StreamingRecognizeRequest rq =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__INIT;
    rq.streaming_request_case =
        NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_STREAMING_CONFIG;
    rq.streaming_config = &sc;
    struct pl__rpc_stream s;
    if (pl__rpc_stream_open(&s, ch, "/nvidia.riva.asr.RivaSpeechRecognition/StreamingRecognize",
                            api_key, timeout_ms, &rq.base) != PL_OK) {
        fprintf(stderr, "parley transcribe: %s\n", pl_last_error());
        return 1;
    }
    size_t off = 0;
    gpr_timespec next_send = gpr_now(GPR_CLOCK_MONOTONIC);
    while (!pl__rpc_stream_done(&s)) {
        gpr_timespec wait = gpr_inf_future(GPR_CLOCK_MONOTONIC);
        if (pl__rpc_stream_can_send(&s))
            wait = realtime ? next_send : gpr_now(GPR_CLOCK_MONOTONIC);
        int tag = pl__rpc_stream_next(&s, wait);
        if (tag < 0) break;
        if (tag == PL__RPC_RECV && s.recv) {
            print_resp(s.recv, cfg, json);
            pl__rpc_stream_recv_more(&s);
        }
        if (!pl__rpc_stream_can_send(&s)) continue;
        if (realtime && gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), next_send) < 0) continue;
        if (off < n) {
            size_t k = off == 0 ? header + chunk : chunk;
            if (k > n - off) k = n - off;
            rq.streaming_request_case =
                NVIDIA__RIVA__ASR__STREAMING_RECOGNIZE_REQUEST__STREAMING_REQUEST_AUDIO_CONTENT;
            rq.audio_content.data = (uint8_t *)audio + off;
            rq.audio_content.len = k;
            off += k;
            next_send = gpr_time_add(next_send, gpr_time_from_millis(chunk_ms, GPR_TIMESPAN));
            if (pl__rpc_stream_send(&s, &rq.base) != PL_OK) break;
        } else if (pl__rpc_stream_close_send(&s) != PL_OK) {
            break;
        }
    }
    int rc = 0;
    if (!s.status_done || s.status != GRPC_STATUS_OK) {
        pl_client_print_status("transcribe", server, s.status, s.details);
        rc = 1;
    }
    pl__rpc_stream_deinit(&s);
    return rc;
}
