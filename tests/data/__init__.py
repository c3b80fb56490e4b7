"""Tests of lm/data/: sources, tokenizers, the token cache, labelled data."""
