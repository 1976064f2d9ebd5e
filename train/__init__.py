"""Parley's training recipes, one package: run them from the repository root as modules,
e.g. `/usr/bin/python3 -m train.nlu.joint_snips` (train/README.md lists them).

    train.common       readers, WordPiece, BERT, safetensors, exporter, loop helpers, paths
    train.nlu          NLU recipes (pretraining, joint intent/slot, NER, punctuation) and evaluation
    train.asr          the ASR acoustic model recipe, its front end, LM (train.asr.lm), evaluation
    train.experiments  measurements and training variants that did not ship (kept to rerun them)
"""
