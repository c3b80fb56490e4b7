"""Tests of lm/convert/: Hugging Face checkpoints against transformers."""
