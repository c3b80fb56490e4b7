"""How the next token is chosen from the logits: greedy, temperature, top-k, top-p, repetition penalty, EOS.

Pure functions of arrays, shared by every decoding strategy (lm/decoding/generate.py); the options are
traced values, so changing them does not recompile.
"""

import flax
import jax
import jax.numpy as jnp


@flax.struct.dataclass
class Options:
    """How the next token is chosen (all traced: changing them does not recompile).

    temperature: softmax temperature; 0 is greedy (argmax).
    top_k: keep the k most likely tokens; 0 keeps all.
    top_p: keep the smallest set of tokens whose probability reaches p (nucleus); 1 keeps all.
    repetition_penalty: divide positive logits (multiply negative ones) of every token already in
      the prompt or the output by this (Keskar et al., 2019, as transformers does); 1 is off.
    """

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0


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


def penalize_repetition(logits: jax.Array, seen: jax.Array, penalty: jax.Array) -> jax.Array:
    """logits [B, V] with the tokens in `seen` [B, V] made less likely by `penalty` (>= 1)."""
    penalized = jnp.where(logits > 0, logits / penalty, logits * penalty)
    return jnp.where(seen, penalized, logits)


def sample_token(logits: jax.Array, rng: jax.Array, options: Options) -> jax.Array:
    """One token per row [B]: argmax when temperature == 0, else a draw from the filtered softmax.

    The filter sorts the vocabulary; `lax.cond` skips it (and greedy decoding skips the draw) when it
    changes nothing, which matters at GPT-2's 50257 tokens.
    """

    def draw(logits):
        scaled = logits / jnp.maximum(options.temperature, 1e-6)
        filtering = (options.top_k > 0) | (options.top_p < 1.0)
        scaled = jax.lax.cond(filtering, lambda x: filter_logits(x, options.top_k, options.top_p), lambda x: x, scaled)
        return jax.random.categorical(rng, scaled, axis=-1).astype(jnp.int32)

    greedy = lambda logits: jnp.argmax(logits, axis=-1).astype(jnp.int32)  # noqa: E731
    return jax.lax.cond(options.temperature > 0, draw, greedy, logits)


def choose_token(i, logits, seen, done, rng, options: Options, eos_id: int | None):
    """Step i's token per row from logits [B, V]: penalised, drawn, and EOS for rows already done.

    Returns:
      (token [B], seen [B, V] with the token added, done [B] with rows that emitted EOS).
    """
    stop = -1 if eos_id is None else eos_id
    logits = penalize_repetition(logits, seen, options.repetition_penalty)
    token = sample_token(logits, jax.random.fold_in(rng, i), options)
    token = jnp.where(done, max(stop, 0), token)
    return token, seen.at[jnp.arange(len(token)), token].set(True), done | (token == stop)


def seen_tokens(prompt, valid, vocab_size: int):
    """[B, V] bool: the tokens of each (left-padded) prompt, padding excluded."""
    return jnp.zeros((prompt.shape[0], vocab_size), bool).at[jnp.arange(prompt.shape[0])[:, None], prompt].max(valid)
