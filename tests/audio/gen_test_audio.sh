#!/bin/sh
# gen_test_audio.sh OUTDIR - write a small set of test audio files with sox,
# in the shapes official Riva clients send (see common/audio.h), for unit and
# integration tests that need real files. Nothing binary is committed: call
# this at test time into a temporary directory.
#
#   tone16k.wav    16 kHz mono s16 WAV (like the Riva sample files)
#   tone48k.wav    48 kHz mono s16 WAV
#   stereo44k.wav  44.1 kHz stereo s16 WAV
#   tone16k.flac   16 kHz mono FLAC
#   tone8k.ulaw    8 kHz mono raw G.711 mu-law (encoding MULAW)
#   tone8k.alaw    8 kHz mono raw G.711 A-law (encoding ALAW)
#   tone16k.s16    16 kHz mono raw s16le (encoding LINEAR_PCM)
#   tone22k.ogg    22.05 kHz mono Ogg/Vorbis
# Each is 1 s: a 440 Hz tone then a 300-3000 Hz chirp (0.5 s each).
set -eu
out=${1:?usage: gen_test_audio.sh OUTDIR}
mkdir -p "$out"
command -v sox >/dev/null || { echo "gen_test_audio.sh: sox not found" >&2; exit 1; }
gen() { # rate channels file [sox output options...]
    r=$1; c=$2; f=$3; shift 3
    sox -D -n -r "$r" -c "$c" "$@" "$out/$f" synth 0.5 sine 440 vol 0.5 : synth 0.5 sine 300-3000 vol 0.5
}
gen 16000 1 tone16k.wav -b 16 -e signed-integer
gen 48000 1 tone48k.wav -b 16 -e signed-integer
gen 44100 2 stereo44k.wav -b 16 -e signed-integer
gen 16000 1 tone16k.flac -b 16
gen 8000 1 tone8k.ulaw -t ul
gen 8000 1 tone8k.alaw -t al
gen 16000 1 tone16k.s16 -t s16 -L
gen 22050 1 tone22k.ogg -t vorbis
