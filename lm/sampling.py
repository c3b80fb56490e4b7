"""Autoregressive sampling with the KV cache: one prefill over the prompt, then one token per step.

`generate` is a pure function; jit it once (as `compile_generate` does) and call it for any prompt
of the same shape. Temperature, top-k and top-p are traced values, so changing them does not
recompile. Temperature 0 is greedy decoding.
"""

import functools

import jax
import jax.numpy as jnp

from lm.model import TransformerLM, init_cache


def filter_logits(logits: jax.Array, top_k: jax.Array, top_p: jax.Array) -> jax.Array:
    """Keeps the top_k largest logits (0: all) and the smallest set whose probability reaches top_p.

    Args:
      logits: [B, V] float32.
      top_k: int scalar; 0 disables.
      top_p: float scalar in (0, 1]; 1 disables.
    Returns:
      [B, V] with removed entries at -inf.
    """
    V = logits.shape[-1]
    sorted_logits = jnp.sort(logits, axis=-1)[:, ::-1]  # [B, V], descending
    k = jnp.where(top_k > 0, jnp.minimum(top_k, V), V)
    kth = jnp.take_along_axis(sorted_logits, jnp.broadcast_to(k - 1, (logits.shape[0], 1)), axis=-1)  # [B, 1]
    probs = jax.nn.softmax(sorted_logits, axis=-1)
    mass_before = jnp.cumsum(probs, axis=-1) - probs  # probability of strictly larger logits
    # The smallest logit still inside the nucleus: entries whose preceding mass is below top_p.
    nucleus_min = jnp.min(jnp.where(mass_before < top_p, sorted_logits, jnp.inf), axis=-1, keepdims=True)
    threshold = jnp.maximum(kth, nucleus_min)
    return jnp.where(logits >= threshold, logits, -jnp.inf)


def sample_token(logits, rng, temperature, top_k, top_p):
    """One token per row: argmax when temperature == 0, else a draw from the filtered softmax."""
    greedy = jnp.argmax(logits, axis=-1)
    scaled = filter_logits(logits / jnp.maximum(temperature, 1e-6), top_k, top_p)
    drawn = jax.random.categorical(rng, scaled, axis=-1)
    return jnp.where(temperature > 0, drawn, greedy).astype(jnp.int32)


def generate(params, prompt, rng, temperature, top_k, top_p, *, model: TransformerLM, max_new_tokens: int):
    """Continues every row of `prompt` by max_new_tokens tokens.

    Args:
      params: model parameters.
      prompt: [B, P] int token ids (all rows the same length).
      rng: PRNG key; the same key gives the same samples.
      temperature, top_k, top_p: scalars, see `sample_token`.
      model: the TransformerLM (static).
      max_new_tokens: how many tokens to add (static); P + max_new_tokens <= model.config.max_len.
    Returns:
      [B, max_new_tokens] int32 new tokens.
    """
    B, P = prompt.shape
    cache = init_cache(model.config, B, P + max_new_tokens)
    logits, cache = model.apply({"params": params}, prompt, cache, 0, method=TransformerLM.decode)
    first = sample_token(logits[:, -1], jax.random.fold_in(rng, 0), temperature, top_k, top_p)

    def step(carry, i):
        token, cache = carry
        logits, cache = model.apply({"params": params}, token[:, None], cache, P + i, method=TransformerLM.decode)
        token = sample_token(logits[:, -1], jax.random.fold_in(rng, i + 1), temperature, top_k, top_p)
        return (token, cache), token

    _, rest = jax.lax.scan(step, (first, cache), jnp.arange(max_new_tokens - 1))  # [max_new_tokens - 1, B]
    return jnp.concatenate([first[:, None], rest.T], axis=1)


def compile_generate(model: TransformerLM, max_new_tokens: int):
    """generate, jit-compiled for this model and length."""
    return jax.jit(functools.partial(generate, model=model, max_new_tokens=max_new_tokens))
