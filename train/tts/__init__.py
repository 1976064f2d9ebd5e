"""Speech synthesis: the grapheme-to-phoneme model of the text front end (g2p, g2p_eval)."""
