/* test_asrstream_util.h - helpers shared by the StreamingRecognize suites of parley-asr
 * (test_asrstream.c, test_asrstream_real.c): the requests of a session without NATS, a whole
 * stream run in chunks, Recognize on the same bytes for comparison, WAV bytes of samples.
 * They fail the running Check test (ck_assert) on what must not fail. */
#ifndef PL_TEST_ASRSTREAM_UTIL_H
#define PL_TEST_ASRSTREAM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asr_service.h"
#include "asr_stream.h"
#include "riva/proto/riva_asr.pb-c.h"
#include "status.h"

/* The first StreamingRecognizeRequest: streaming_config with cfg (borrowed) and interim.
 * OUT: *n bytes; caller frees with pl_free. */
uint8_t *pl_test_asrstream_pack_config(const Nvidia__Riva__Asr__RecognitionConfig *cfg,
                                       bool interim, size_t *n);
/* Send n bytes of audio_content to session s; returns pl_asrsvc_session_message's status. */
pl_status pl_test_asrstream_send_audio(struct pl_asrsvc_session *s, const uint8_t *a, size_t n);
/* One session on ss: the config (cfg, interim), then audio in chunks of `chunk` bytes (the
 * first one `first` bytes: a WAV header may ride along), then the end; every response goes
 * to collect(ud, ...). Every message must succeed. */
void pl_test_asrstream_run(struct pl_asrsvc_streaming *ss,
                           const Nvidia__Riva__Asr__RecognitionConfig *cfg, bool interim,
                           pl_asrsvc_session_send_fn collect, void *ud, const uint8_t *audio,
                           size_t n, size_t first, size_t chunk);
/* Recognize on svc with cfg on the same bytes: the first alternatives of its results joined
 * by a space into out (cap bytes). Returns the number of results. */
int pl_test_asrstream_recognize(struct pl_asrsvc *svc,
                                const Nvidia__Riva__Asr__RecognitionConfig *cfg,
                                const uint8_t *audio, size_t n, char *out, size_t cap);
/* n mono samples at rate as 16-bit WAV bytes. OUT: *len; caller frees with pl_free. */
uint8_t *pl_test_asrstream_wav(const float *x, size_t n, int rate, size_t *len);

#endif
