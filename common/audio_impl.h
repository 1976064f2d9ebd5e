/*
 * audio_impl.h - internals shared by common/audio*.c. Not a public API.
 */
#ifndef PL_AUDIO_IMPL_H
#define PL_AUDIO_IMPL_H

#include <sndfile.h>

/* sf_open_virtual() under a process-wide mutex: libsndfile writes global
 * error state (sf_errno, sf_parselog) on every open, which would be a data
 * race between threads decoding at once. Reading and writing an open
 * SNDFILE touch only that handle and need no lock. */
SNDFILE *pl__audio_sf_open_virtual(SF_VIRTUAL_IO *vio, int mode, SF_INFO *info, void *ud);

#endif
