"""Arabic (and Latin) text for matching: normalization, tokenization, light stemming."""
