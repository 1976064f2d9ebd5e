"""Measurements and training variants that did not ship, kept so that their runs can be
repeated (docs/asr-training.md has what each measured). Nothing under train/asr or
train/nlu imports this package; the shipped recipes stay free of their options.

    asr_variants  train.asr.train with --no-specaug, --dropout, --lj-weight, --warp-mel,
                  --warp-time (the afternoon and evening runs of 2026-11-27)
    phone_probe   fine-tunes a character checkpoint's encoder to ARPAbet phones and compares
                  greedy PER with the character model's CER (the phone probe)
"""
