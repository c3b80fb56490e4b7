"""The test suite: tests/ mirrors lm/, one test file per module (README: "Tests")."""
