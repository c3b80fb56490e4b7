"""Models: pure functions for the maths, Flax (linen) modules for parameters and wiring. Importing the package
imports no JAX (lm/config.py reads config.py through it): families.py is the way in.

config.py           ModelConfig: every model field, once, with its default, meaning and role; the size table
families.py         the families as records: module, config rules, FLOPs, console words (imports no JAX)
attention.py        attention and masks (causal, padding, segment) as pure functions
positions.py        sinusoidal and rotary position encodings, T5's relative position buckets
layers.py           norms, MLP, multi-head attention, the residual block
stack.py            what both Transformer families are built from: embedding, blocks, masks, head
transformer.py      the Transformer family (decoder / encoder; LM, classification, tagging heads; KV cache)
encoder_decoder.py  the encoder-decoder Transformer (cross-attention in the shared blocks), its cache
gru.py              the GRU encoder-decoder with Luong attention
layout.py           parameter layouts (per layer / scanned), transplanting pretrained weights, counting
flops.py            FLOPs from the architecture, matrix product by matrix product, for every family
"""
