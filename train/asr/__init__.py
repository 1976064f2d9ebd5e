"""The ASR acoustic model recipe: front end (feats), data (synth), model, training, export;
`python3 -m train.asr.recipe` runs every step that builds models/asr-en-quartznet."""
