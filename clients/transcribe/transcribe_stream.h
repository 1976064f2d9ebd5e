/*
 * transcribe_stream.h - `parley transcribe --stream`: StreamingRecognize of a file through the
 * gateway (transcribe_stream.c).
 */
#ifndef PL_TRANSCRIBE_STREAM_H
#define PL_TRANSCRIBE_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>

#include "riva/proto/riva_asr.pb-c.h"

/* Stream audio[0..n) (a WAV file, or raw audio as cfg describes) over ch in chunks of chunk_ms
 * of audio (paced in real time when realtime), printing interim and final results to stdout.
 * ch, cfg and audio are borrowed. Returns the exit status: 0 ok, 1 the call failed (printed
 * to stderr with server), 2 unusable input. */
/* One recognition result as a JSON object on stdout, without a newline: {"transcript",
 * "confidence", "channel", "audio_processed", "is_final", "stability" (interim only),
 * "alternatives": [transcripts], "words": [{"word", "start_ms", "end_ms", "confidence"}]}
 * (the words of the best alternative). */
void pl_transcribe_print_json(Nvidia__Riva__Asr__SpeechRecognitionAlternative *const *alts,
                              size_t n_alts, int channel, float audio_processed, bool is_final,
                              float stability);

int pl_transcribe_stream(grpc_channel *ch, const char *api_key,
                         Nvidia__Riva__Asr__RecognitionConfig *cfg, const uint8_t *audio, size_t n,
                         int chunk_ms, bool realtime, long timeout_ms, const char *server,
                         bool json);

#endif
