#!/usr/bin/env bash
# Rebuild every shipped text model from the data folder, in order (train/run_all.py; --help).
#   train/run_all.sh [--smoke] [--dry-run] [--from STEP] [--only A,B] [--device auto|cpu|cuda] [--build DIR]
cd "$(dirname "$0")/.." && exec "${PL_PYTHON:-/usr/bin/python3}" -m train.run_all "$@"
