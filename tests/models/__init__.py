"""Tests of lm/models/: pure functions against hand-written arrays, modules against naive maths."""
