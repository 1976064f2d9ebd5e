"""The ASR word 3-gram language model recipe (build_lm -> models/asr-lm)."""
