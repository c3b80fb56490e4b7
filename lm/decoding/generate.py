"""Autoregressive generation with the KV cache: one prefill over the prompts, then one token per step.

`generate` is a pure function; `compile_generate` serves it jit-compiled once per (model, length, EOS),
for any prompts of a shape. The sampling options (lm/decoding/sampling.py) are traced values, so
changing the temperature, top-k, top-p or repetition penalty does not recompile. Temperature 0 is greedy.

Prompts of different lengths are left-padded into one batch (`pad_left`): each row's positions start
at its first real token and the padding's cache slots are masked, so every row decodes as it would
alone. Rows that emit the EOS token stop (their later tokens are EOS), and the loop ends early once
every row has. Decoding is split into `prefill` and `decode_step` so that other strategies (beam
search: reorder the cache rows by beam after each step) reuse them.

Each new token costs one forward pass of one token over a cache of fixed size (prompt + new tokens),
whatever was generated before; `generate_uncached` recomputes the whole sequence at every step
instead, as a reference and to measure what the cache saves.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from lm.decoding.sampling import Options, choose_token, seen_tokens
from lm.models import families


def pad_left(prompts: list[np.ndarray], pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Token-id rows of different lengths as one left-padded batch.

    Returns:
      (tokens [B, P] int32, valid [B, P] bool, False at the padding), P the longest prompt.
    """
    P = max(len(p) for p in prompts)
    tokens = np.full((len(prompts), P), pad_id, np.int32)
    valid = np.zeros((len(prompts), P), bool)
    for row, prompt in enumerate(prompts):
        tokens[row, P - len(prompt) :] = prompt
        valid[row, P - len(prompt) :] = True
    return tokens, valid


def prefill(params, prompt, valid, *, model, cache_len: int, source=None, source_valid=None):
    """Runs the (left-padded) prompts through a fresh cache of cache_len slots.

    An encoder-decoder also gets its `source` [B, S] (and `source_valid`): it is encoded once, and each
    decoder layer's cross-attention keys and values go into the cache; the prompt is then the start of the
    target (its [BOS]).

    Returns:
      (logits [B, V] at each prompt's last token, cache, positions [B] of the next token,
       key_valid [B, cache_len]).
    """
    B, P = prompt.shape
    positions = jnp.maximum(jnp.cumsum(valid, axis=1) - 1, 0)  # 0 at each row's first real token
    key_valid = jnp.concatenate([valid, jnp.ones((B, cache_len - P), bool)], axis=1)
    encoder = {}
    if source is not None:
        if source_valid is None:
            source_valid = jnp.ones(source.shape, bool)
        encoded = model.apply({"params": params}, source, source_valid, method="encode")
        encoder = dict(encoded=encoded, encoder_valid=source_valid)
    cache = families.init_cache(model.config, B, cache_len, source_len=0 if source is None else source.shape[1])
    logits, cache = model.apply({"params": params}, prompt, cache, 0, positions, key_valid, **encoder, method="decode")
    return logits[:, -1], cache, positions[:, -1] + 1, key_valid


def decode_step(params, token, cache, slot, positions, key_valid, *, model):
    """One new token per row [B] into cache slot `slot` at `positions` [B]: (logits [B, V], cache)."""
    logits, cache = model.apply(
        {"params": params}, token[:, None], cache, slot, positions[:, None], key_valid, method="decode"
    )
    return logits[:, -1], cache


def generate(
    params,
    prompt,
    valid,
    rng,
    options: Options,
    source=None,
    source_valid=None,
    *,
    model: families.Model,
    max_new_tokens: int,
    eos_id: int | None = None,
):
    """Continues every row of `prompt` by up to max_new_tokens tokens.

    Args:
      params: model parameters.
      prompt: [B, P] int token ids, left-padded (see `pad_left`).
      valid: [B, P] bool, False at the padding.
      rng: PRNG key; the same key gives the same tokens.
      options: see `Options`.
      source, source_valid: an encoder-decoder's input [B, S] and its validity (see `prefill`).
      model: a model of any family that decodes (static).
      max_new_tokens: how many tokens to add (static); P + max_new_tokens <= model.config.max_len.
      eos_id: a row that emits this token stops; its later tokens are eos_id (static; None: never stop).
    Returns:
      (tokens [B, max_new_tokens] int32, lengths [B] int32: the tokens up to and including EOS).
    """
    B, P = prompt.shape
    logits, cache, positions, key_valid = prefill(
        params, prompt, valid, model=model, cache_len=P + max_new_tokens, source=source, source_valid=source_valid
    )
    out = jnp.full((B, max_new_tokens), 0 if eos_id is None else eos_id, jnp.int32)
    choose = functools.partial(choose_token, rng=rng, options=options, eos_id=eos_id)
    token, seen, done = choose(0, logits, seen_tokens(prompt, valid, logits.shape[-1]), jnp.zeros(B, bool))
    out = out.at[:, 0].set(token)
    lengths = jnp.ones(B, jnp.int32)

    def body(carry):
        i, token, cache, seen, done, out, lengths = carry
        logits, cache = decode_step(params, token, cache, P + i - 1, positions + i - 1, key_valid, model=model)
        lengths = lengths + ~done
        token, seen, done = choose(i, logits, seen, done)
        return i + 1, token, cache, seen, done, out.at[:, i].set(token), lengths

    def more(carry):
        i, done = carry[0], carry[4]
        return (i < max_new_tokens) & ~done.all()

    carry = jax.lax.while_loop(more, body, (1, token, cache, seen, done, out, lengths))
    return carry[5], carry[6]


def generate_uncached(
    params,
    prompt,
    valid,
    rng,
    options: Options,
    source=None,
    source_valid=None,
    *,
    model: families.Model,
    max_new_tokens: int,
    eos_id=None,
):
    """`generate` without a KV cache: every step runs the whole sequence so far (a reference; slow).

    The sequence lives in a buffer of fixed length P + max_new_tokens, so each step costs a full
    forward pass over it. Returns the tokens [B, max_new_tokens] (the lengths are not tracked).
    """
    B, P = prompt.shape
    tokens = jnp.concatenate([prompt, jnp.zeros((B, max_new_tokens), prompt.dtype)], axis=1)
    valid = jnp.concatenate([valid, jnp.ones((B, max_new_tokens), bool)], axis=1)
    positions = jnp.maximum(jnp.cumsum(valid, axis=1) - 1, 0)
    seen = seen_tokens(prompt, valid[:, :P], model.config.vocab_size)

    def step(carry, i):
        tokens, seen, done = carry
        encoder = {} if source is None else dict(source=source, source_valid=source_valid)
        logits = model.apply({"params": params}, tokens, positions, valid=valid, **encoder)  # [B, S, V]
        token, seen, done = choose_token(i, logits[:, P + i - 1], seen, done, rng, options, eos_id)
        return (jax.lax.dynamic_update_slice(tokens, token[:, None], (0, P + i)), seen, done), None

    (tokens, _, _), _ = jax.lax.scan(step, (tokens, seen, jnp.zeros(B, bool)), jnp.arange(max_new_tokens))
    return tokens[:, P:]


# Compiled once per (model, max_new_tokens, eos_id) and argument shapes, then reused by every caller: jit
# caches on the static arguments, and models with equal configs are equal.
_STATIC = ("model", "max_new_tokens", "eos_id")
_generate_jit = jax.jit(generate, static_argnames=_STATIC)
_generate_uncached_jit = jax.jit(generate_uncached, static_argnames=_STATIC)


def compile_generate(model: families.Model, max_new_tokens: int, eos_id: int | None = None, cache: bool = True):
    """generate (or generate_uncached), jit-compiled for this model, length and EOS:
    fn(params, prompt, valid, rng, options[, source, source_valid])."""
    fn = _generate_jit if cache else _generate_uncached_jit
    return functools.partial(fn, model=model, max_new_tokens=max_new_tokens, eos_id=eos_id)
