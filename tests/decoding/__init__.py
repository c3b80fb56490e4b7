"""Tests of lm/decoding/: token choice, generation, text, scoring, the generation benchmark."""
