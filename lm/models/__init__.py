"""Models: pure functions for the maths, Flax (linen) modules for parameters and wiring.

config.py        ModelConfig: every model field, once, with its default, meaning and role; the size table
attention.py     attention and masks (causal, padding, segment) as pure functions
positions.py     sinusoidal and rotary position encodings
layers.py        norms, MLP, multi-head attention, the residual block
transformer.py   the Transformer family (decoder / encoder; LM, classification, tagging heads; KV cache)
layout.py        parameter layouts (per layer / scanned), transplanting pretrained weights, counting
"""
