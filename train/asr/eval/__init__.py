"""Evaluation of the ASR models through the running service (eval_service)."""
