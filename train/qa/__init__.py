"""Extractive question answering: SQuAD-format data, the C service's windows, training, evaluation, export."""
