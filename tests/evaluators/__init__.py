"""Tests of lm/evaluators/: metrics against hand-computed values and naive loops."""
