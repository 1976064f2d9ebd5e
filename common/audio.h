/*
 * audio.h - audio decoding, container sniffing, downmix, resampling, encoding.
 *
 * Services receive audio as bytes plus a Riva RecognitionConfig (encoding,
 * sample_rate_hertz, audio_channel_count) and produce audio for TTS. This
 * module turns those bytes into float32 samples and back:
 *
 *   bytes --pl_audio_decode()--> struct pl_audio (float32, interleaved)
 *         --pl_audio_to_mono()--> mono --pl_audio_resample()--> model rate
 *   struct pl_audio --pl_audio_encode()--> s16le / WAV / FLAC / Ogg-Opus / G.711
 *
 * Samples are float32 in [-1, 1). Integer PCM is scaled by 1/2^(bits-1)
 * (s16: x / 32768), the same convention as sox and libsndfile, so decoding is
 * exact for 8/16/24-bit PCM. Encoding to s16 computes round(x * 32768) and
 * clamps to [-32768, 32767], so s16 -> float -> s16 is lossless.
 *
 * Containers (WAV, FLAC, Ogg/Opus, Ogg/Vorbis) are decoded by libsndfile from
 * memory; raw LINEAR_PCM (s16le), MULAW and ALAW by our own table-driven
 * decoders. Resampling uses libsoxr (high quality). Headers are checked by
 * our own code before libsndfile sees them: WAV sample formats outside the
 * list below are refused, and Ogg header pages must be complete with valid
 * CRCs (libsndfile 1.2.0 leaks memory on Vorbis headers that fail to parse;
 * a crafted Vorbis setup packet with valid CRCs might still make it leak a few
 * kB, so services that face the internet may refuse OGG_VORBIS).
 *
 * Container magic recognised by the sniffer (first bytes of the buffer):
 *
 *   offset 0        4        8        12
 *          "RIFF"  <u32 le>  "WAVE"   chunks...  -> WAV (RIFF/WAVE)
 *          "fLaC"  metadata blocks...            -> FLAC
 *          "OggS"  ...  page payload at 28 + segments: "OpusHead" -> Ogg/Opus,
 *                                                  "\x01vorbis" -> Ogg/Vorbis
 *
 * Memory: every allocation goes through common/alloc.h except the private
 * allocations of libsndfile and libsoxr themselves.
 * Thread-safety: all functions are reentrant; distinct objects may be used
 * from different threads at once, one object from one thread at a time.
 */
#ifndef PL_AUDIO_H
#define PL_AUDIO_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Numbered exactly like nvidia.riva.AudioEncoding, so a service passes the
 * proto value straight through (cast the int32 field). */
enum pl_audio_encoding {
    PL_AUDIO_ENC_UNSPECIFIED = 0,
    PL_AUDIO_ENC_LINEAR_PCM = 1, /* raw: signed 16-bit little-endian */
    PL_AUDIO_ENC_FLAC = 2,
    PL_AUDIO_ENC_MULAW = 3, /* raw: G.711 mu-law, one byte per sample */
    PL_AUDIO_ENC_OGGOPUS = 4,
    PL_AUDIO_ENC_ALAW = 20, /* raw: G.711 A-law, one byte per sample */
};

/* What the sniffer found in front of the samples. */
enum pl_audio_container {
    PL_AUDIO_CONTAINER_NONE = 0, /* no known magic: headerless (raw) data */
    PL_AUDIO_CONTAINER_WAV = 1,
    PL_AUDIO_CONTAINER_FLAC = 2,
    PL_AUDIO_CONTAINER_OGG_OPUS = 3,
    PL_AUDIO_CONTAINER_OGG_VORBIS = 4,
};

/* Output formats of pl_audio_encode(). */
enum pl_audio_format {
    PL_AUDIO_FMT_RAW_S16LE = 1, /* headerless s16le, interleaved */
    PL_AUDIO_FMT_WAV = 2,       /* RIFF/WAVE, 16-bit PCM */
    PL_AUDIO_FMT_FLAC = 3,      /* FLAC, 16-bit */
    PL_AUDIO_FMT_OGG_OPUS = 4,  /* Ogg/Opus; see pl_audio_encode() about rates */
    PL_AUDIO_FMT_MULAW = 5,     /* headerless G.711 mu-law */
    PL_AUDIO_FMT_ALAW = 6,      /* headerless G.711 A-law */
};

/* Limits. Raw input (pl_audio_decode, pl_audio_decode_raw) must declare a
 * rate in [PL_AUDIO_RAW_MIN_RATE, PL_AUDIO_RAW_MAX_RATE]; containers, the
 * resampler and the encoders accept [PL_AUDIO_MIN_RATE, PL_AUDIO_MAX_RATE]
 * (tested: 8-48 kHz). */
#define PL_AUDIO_RAW_MIN_RATE 8000
#define PL_AUDIO_RAW_MAX_RATE 48000
#define PL_AUDIO_MIN_RATE 4000
#define PL_AUDIO_MAX_RATE 192000
#define PL_AUDIO_MAX_CHANNELS 8
/* Default cap on decoded length (one hour at 48 kHz), against decompression
 * bombs (a few kB of FLAC can claim hours of silence). */
#define PL_AUDIO_DEFAULT_MAX_FRAMES ((size_t)48000 * 3600)

/* Decoded audio. samples holds n_frames * channels floats, interleaved
 * (frame i, channel c at samples[i * channels + c]). */
struct pl_audio {
    float *samples;
    size_t n_frames;
    int channels;
    int sample_rate;
};

/* Allocate audio of n_frames x channels, samples zeroed.
 * Returns PL_OK, PL_E_INVALID_ARG (out NULL, channels outside 1..8, rate
 * outside PL_AUDIO_MIN_RATE..PL_AUDIO_MAX_RATE, size overflow) or PL_E_NOMEM.
 * OUT: *out, caller owns; free with pl_audio_destroy(). NULL on failure. */
pl_status pl_audio_create(size_t n_frames, int channels, int sample_rate, struct pl_audio **out);

/* Free audio from any pl_audio_* function. NULL is a no-op. */
void pl_audio_destroy(struct pl_audio *a);

/* --- Sniffing ------------------------------------------------------------ */

/* Bits of pl_audio_info.mismatch: the header disagrees with the request. */
#define PL_AUDIO_MISMATCH_RATE 1u     /* header rate != opts.sample_rate */
#define PL_AUDIO_MISMATCH_CHANNELS 2u /* header channels != opts.channels */
#define PL_AUDIO_MISMATCH_ENCODING 4u /* header contents != opts.encoding */

struct pl_audio_info {
    enum pl_audio_container container;
    /* Riva encoding equivalent to the contents: LINEAR_PCM for any integer
     * or float PCM (in WAV or raw), MULAW, ALAW, FLAC, OGGOPUS; UNSPECIFIED
     * for Ogg/Vorbis, which Riva's enum cannot name. */
    enum pl_audio_encoding encoding;
    int sample_rate;
    int channels;
    int bits;           /* WAV: bits per sample (8/16/24/32/64); raw: 16 or 8; else 0 */
    int is_float;       /* WAV: IEEE float samples */
    size_t data_offset; /* WAV: byte offset of the sample data; else 0 */
    size_t data_bytes;  /* WAV: size the data chunk claims (may exceed the buffer,
                         * or be 0 from a streaming writer); raw: the byte count */
    unsigned mismatch;  /* PL_AUDIO_MISMATCH_* (pl_audio_decode only) */
};

/* Identify the container from the first bytes of buf (needs at most the
 * header; for WAV, the chunks up to and including the "data" chunk header).
 * Does not decode. A WAV probe lets a streaming service strip the header of
 * the first chunk and feed the rest to pl_audio_decode_frames().
 * Returns PL_OK with info->container NONE when there is no known magic
 * (headerless data or garbage); PL_E_FORMAT when the magic is there but the
 * header is truncated or malformed, or the WAV holds a sample format other
 * than PCM 8/16/24/32, float 32/64, mu-law or A-law; PL_E_INVALID_ARG when
 * info is NULL or buf is NULL with n > 0.
 * OUT: *info (zeroed first). */
pl_status pl_audio_probe(const void *buf, size_t n, struct pl_audio_info *info);

/* --- Decoding ------------------------------------------------------------ */

/* What the request says about the bytes (RecognitionConfig fields). */
struct pl_audio_decode_opts {
    enum pl_audio_encoding encoding; /* UNSPECIFIED: sniff a container */
    int sample_rate;                 /* raw: required; containers: 0 or checked */
    int channels;                    /* raw: required, 1..8; containers: 0 or checked */
    size_t max_frames;               /* 0: PL_AUDIO_DEFAULT_MAX_FRAMES */
};

/* Decode a whole buffer into float32 samples.
 *
 * If the bytes start with a container magic (RIFF/WAVE, fLaC, OggS) the
 * container is decoded whatever opts->encoding says (official Riva clients
 * send WAV files with encoding LINEAR_PCM or unspecified), and rate and
 * channels come from the header. When opts->sample_rate / opts->channels /
 * opts->encoding are set and the header disagrees, decoding still succeeds
 * with the header's values and info->mismatch says which ones differ: the
 * caller decides whether to reject or resample.
 * A WAV whose data chunk declares 0 bytes (written by a streaming writer
 * that could not seek back) is read to the end of the buffer.
 * Without a container magic, opts->encoding must be LINEAR_PCM, MULAW or
 * ALAW and the data is decoded as raw (pl_audio_decode_raw()).
 *
 * opts may be NULL (= all zero: sniff, no checks). info may be NULL.
 * Returns PL_OK;
 *   PL_E_FORMAT: empty buffer, truncated/malformed header, unsupported sample
 *     format inside the container, FLAC/OGGOPUS requested but no such header,
 *     no header and encoding unspecified, odd byte count for s16, a header
 *     with channels 0 or > 8 or a rate outside PL_AUDIO_MIN/MAX_RATE;
 *   PL_E_INVALID_ARG: out NULL, buf NULL with n > 0, unknown encoding value,
 *     raw rate outside 8000..48000, raw channels outside 1..8;
 *   PL_E_EXHAUSTED: more than max_frames frames;
 *   PL_E_NOMEM.
 * OUT: *out, caller owns; free with pl_audio_destroy(); NULL on failure.
 *      *info (when non-NULL) describes the input, also filled on PL_OK only. */
pl_status pl_audio_decode(const void *buf, size_t n, const struct pl_audio_decode_opts *opts,
                          struct pl_audio **out, struct pl_audio_info *info);

/* pl_audio_decode() on the contents of a file (read whole into memory).
 * Additional return: PL_E_IO when the file cannot be opened or read. */
pl_status pl_audio_decode_file(const char *path, const struct pl_audio_decode_opts *opts,
                               struct pl_audio **out, struct pl_audio_info *info);

/* Decode headerless samples: encoding LINEAR_PCM (s16le), MULAW or ALAW,
 * interleaved over `channels`. Does not sniff. n may be 0 (0 frames).
 * Returns PL_OK; PL_E_INVALID_ARG (encoding not raw, rate outside
 * 8000..48000, channels outside 1..8, out NULL, buf NULL with n > 0);
 * PL_E_FORMAT (byte count not a whole number of frames); PL_E_NOMEM.
 * OUT: *out, caller owns; free with pl_audio_destroy(). */
pl_status pl_audio_decode_raw(const void *buf, size_t n, enum pl_audio_encoding encoding,
                              int sample_rate, int channels, struct pl_audio **out);

/* Streaming: decode the whole frames at the start of buf, sample data laid
 * out as `fmt` says: a WAV pl_audio_info from pl_audio_probe() (PCM
 * 8/16/24/32, float 32/64, mu-law, A-law; bytes after fmt->data_offset), or a
 * raw one (container NONE, encoding LINEAR_PCM/MULAW/ALAW, sample_rate and
 * channels set). A trailing partial frame is not decoded: *consumed says how
 * many bytes were used, and the caller keeps the rest for the next chunk.
 * Typical use for an official client's streamed WAV: probe the first chunk,
 * decode from data_offset on, then every later chunk with the same info.
 * Returns PL_OK (possibly 0 frames); PL_E_INVALID_ARG (NULL args, fmt not a
 * WAV/raw layout, rate or channels out of range); PL_E_NOMEM.
 * OUT: *out, caller owns; free with pl_audio_destroy(). *consumed bytes. */
pl_status pl_audio_decode_frames(const void *buf, size_t n, const struct pl_audio_info *fmt,
                                 struct pl_audio **out, size_t *consumed);

/* --- G.711 and s16 sample conversion (no allocation, never fail) ---------- */

/* dst[i] = decoded src[i] scaled to [-1, 1). */
void pl_g711_mulaw_to_float(const uint8_t *src, size_t n, float *dst);
void pl_g711_alaw_to_float(const uint8_t *src, size_t n, float *dst);
/* dst[i] = G.711 code of src[i] (clamped to [-1, 1)); bit-exact with sox. */
void pl_g711_float_to_mulaw(const float *src, size_t n, uint8_t *dst);
void pl_g711_float_to_alaw(const float *src, size_t n, uint8_t *dst);
/* s16 <-> float: x / 32768 and clamp(round(x * 32768)). */
void pl_audio_s16_to_float(const int16_t *src, size_t n, float *dst);
void pl_audio_float_to_s16(const float *src, size_t n, int16_t *dst);

/* --- Downmix ------------------------------------------------------------- */

/* Average the channels of n_frames interleaved frames into dst (n_frames
 * floats). dst may equal src (in-place). channels must be >= 1. */
void pl_audio_downmix(const float *src, size_t n_frames, int channels, float *dst);

/* Turn a into mono in place (average of channels); no-op when already mono.
 * Returns PL_OK or PL_E_INVALID_ARG (a NULL). Never allocates. */
pl_status pl_audio_to_mono(struct pl_audio *a);

/* --- Resampling ---------------------------------------------------------- */

/* One-shot resampling of all of `in` to out_rate (same channel count): the
 * samples of a streaming resampler fed everything then flushed, cut or
 * zero-padded to exactly round(n_frames * out_rate / in_rate) frames (soxr's
 * own total differs by at most one). Same rate: a copy.
 * Returns PL_OK; PL_E_INVALID_ARG (NULL args, rates outside
 * PL_AUDIO_MIN/MAX_RATE, bad channels); PL_E_NOMEM; PL_E_INTERNAL (libsoxr).
 * OUT: *out, caller owns; free with pl_audio_destroy(). */
pl_status pl_audio_resample(const struct pl_audio *in, int out_rate, struct pl_audio **out);

/* Streaming resampler for audio that arrives in chunks (streaming ASR).
 * Feeding chunks of any sizes and then flushing yields the same samples as
 * pl_audio_resample() on the concatenation (to float rounding).
 * Not thread-safe: one stream, one thread at a time. */
struct pl_resampler;

/* in_rate, out_rate in PL_AUDIO_MIN_RATE..PL_AUDIO_MAX_RATE; channels 1..8.
 * Returns PL_OK, PL_E_INVALID_ARG, PL_E_NOMEM or PL_E_INTERNAL.
 * OUT: *out, caller owns; free with pl_resampler_destroy(). */
pl_status pl_resampler_create(int in_rate, int out_rate, int channels, struct pl_resampler **out);

/* Feed n_frames interleaved frames (n_frames may be 0). The resampler delays
 * output a little (filter length); call pl_resampler_flush() at end of stream.
 * After an error other than PL_E_INVALID_ARG the stream has lost samples:
 * reset or destroy it.
 * Returns PL_OK; PL_E_INVALID_ARG (NULL args, or called after flush without
 * reset); PL_E_NOMEM; PL_E_INTERNAL.
 * OUT: *out points to *n_out frames owned by r, valid until the next call
 *      on r (borrowed). */
pl_status pl_resampler_process(struct pl_resampler *r, const float *in, size_t n_frames,
                               const float **out, size_t *n_out);

/* End of stream: return the remaining delayed frames. After a flush only
 * pl_resampler_reset() or pl_resampler_destroy() may follow.
 * Returns and OUT: as pl_resampler_process(). */
pl_status pl_resampler_flush(struct pl_resampler *r, const float **out, size_t *n_out);

/* Forget all state (a new stream at the same rates). Returns PL_OK,
 * PL_E_INVALID_ARG (r NULL) or PL_E_INTERNAL. */
pl_status pl_resampler_reset(struct pl_resampler *r);

/* Frames of delay the resampler adds at the output rate (informative). */
double pl_resampler_delay(const struct pl_resampler *r);

/* NULL is a no-op. */
void pl_resampler_destroy(struct pl_resampler *r);

/* --- Encoding ------------------------------------------------------------ */

/* Encode a into a new memory buffer. Reads only a's fields (a may be a
 * stack struct viewing the caller's samples). Integer formats convert with
 * clamp(round(x * 32768)).
 * Ogg/Opus works only at 8000/12000/16000/24000/48000 Hz: other rates are
 * first resampled to the next higher one of these (22050 -> 24000,
 * 44100 -> 48000); pl_audio_decode() of the result returns that rate.
 * Returns PL_OK; PL_E_INVALID_ARG (NULL args, unknown fmt, bad channels or
 * rate, samples NULL with n_frames > 0); PL_E_NOMEM; PL_E_INTERNAL (codec).
 * OUT: *out (caller owns; free with pl_free()) and *out_len bytes. *out is
 *      NULL on failure; a zero-length encoding still returns a non-NULL
 *      pointer. */
pl_status pl_audio_encode(const struct pl_audio *a, enum pl_audio_format fmt, uint8_t **out,
                          size_t *out_len);

/* Format for a Riva encoding (TTS requests): LINEAR_PCM -> RAW_S16LE,
 * FLAC -> FLAC, MULAW -> MULAW, ALAW -> ALAW, OGGOPUS -> OGG_OPUS.
 * Returns PL_OK or PL_E_INVALID_ARG (UNSPECIFIED or unknown). OUT: *fmt. */
pl_status pl_audio_format_for_encoding(enum pl_audio_encoding enc, enum pl_audio_format *fmt);

/* Static names for logs ("LINEAR_PCM", "wav"); "?" for unknown values. */
const char *pl_audio_encoding_str(enum pl_audio_encoding enc);
const char *pl_audio_container_str(enum pl_audio_container c);

#ifdef __cplusplus
}
#endif
#endif
