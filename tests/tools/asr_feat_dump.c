/* asr_feat_dump.c - driver of the front-end reference test (not a suite).
 *
 *   asr_feat_dump AUDIO OUT_PREFIX NORM
 *
 * Decodes AUDIO (any format common/audio reads), downmixes, resamples to
 * 16 kHz and writes OUT_PREFIX.pcm (the float32 samples the front end saw)
 * and OUT_PREFIX.feat (float32 [frames][80] features, NORM = none or
 * per_feature). tests/reference/asr_features.py recomputes the features from
 * the .pcm with NumPy and compares. */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "asr_features.h"
#include "audio.h"

static int write_all(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(p, 1, n, f);
    int rc = fclose(f);
    return (w == n && rc == 0) ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s AUDIO OUT_PREFIX none|per_feature\n", argv[0]);
        return 2;
    }
    struct pl_audio *a = NULL, *r = NULL;
    struct pl_asr_fe *fe = NULL;
    float *feats = NULL;
    size_t nf = 0;
    int rc = 1;
    struct pl_asr_fe_opts o;
    pl_asr_fe_opts_default(&o);
    o.norm = strcmp(argv[3], "none") == 0 ? PL_ASR_NORM_NONE : PL_ASR_NORM_PER_FEATURE;
    if (pl_audio_decode_file(argv[1], NULL, &a, NULL) != PL_OK)
        goto fail;
    if (pl_audio_to_mono(a) != PL_OK)
        goto fail;
    if (a->sample_rate != 16000) {
        if (pl_audio_resample(a, 16000, &r) != PL_OK)
            goto fail;
    } else {
        r = a;
        a = NULL;
    }
    if (pl_asr_fe_create(&o, &fe) != PL_OK)
        goto fail;
    if (pl_asr_fe_compute(fe, r->samples, r->n_frames, &feats, &nf) != PL_OK)
        goto fail;
    char path[4096];
    snprintf(path, sizeof path, "%s.pcm", argv[2]);
    if (write_all(path, r->samples, r->n_frames * sizeof(float)))
        goto fail;
    snprintf(path, sizeof path, "%s.feat", argv[2]);
    if (write_all(path, feats, nf * 80 * sizeof(float)))
        goto fail;
    rc = 0;
fail:
    if (rc)
        fprintf(stderr, "%s: %s\n", argv[1], pl_last_error());
    pl_free(feats);
    pl_asr_fe_destroy(fe);
    pl_audio_destroy(a);
    pl_audio_destroy(r);
    return rc;
}
