"""Shared pieces of Parley's training recipes: data readers, WordPiece tokenizer,
a BERT encoder with Hugging Face tensor names, metrics and the model exporter."""
