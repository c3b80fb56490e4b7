"""Decoding: turning a trained model into text, and text into scores.

sampling.py   how the next token is chosen (greedy, temperature, top-k / top-p, repetition penalty, EOS)
generate.py   prefill and decode step over the KV cache, the generation loop (and an uncached reference)
text.py       prompts in, continuations out: encoding, checks, stop strings
scoring.py    per-token log-likelihood of a text, in windows of the context
bench.py      --mode=bench_generate: generation speed with and without the KV cache
"""
