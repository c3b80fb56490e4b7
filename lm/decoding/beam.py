"""Beam search: the most likely continuations under a length penalty, batched, in one compiled while_loop.

Every row of the batch keeps `num_beams` live hypotheses and `num_beams` finished ones. At each step the
live ones are extended by every token, the 2 x num_beams best extensions are kept (so that num_beams of them
can continue even if the others end), those ending in EOS join the finished ones with the score

    log P(sequence) / ((5 + length) / 6) ** alpha          (GNMT's length penalty: Wu et al., 2016; t5x)

and the best num_beams of the rest stay live, each with its parent's decoding state (the KV cache rows
reordered by beam). The search stops when no live hypothesis can beat a row's worst finished one, or at
max_new_tokens; rows that finish fewer than num_beams hypotheses take live ones, scored at their length.

`search` is the strategy, independent of any model: it takes the first step's log-probabilities, a step
function and a way to reorder the decoding state. `beam_search` runs it on a model through the same
`prefill` / `decode_step` as sampling (lm/decoding/generate.py).
"""

import functools
from typing import Callable

import jax
import jax.numpy as jnp

from lm.decoding.generate import decode_step, prefill
from lm.models import families

NEG_INF = -1.0e9  # a hypothesis that does not exist; finite, so that sums stay comparable


def length_penalty(length, alpha):
    """((5 + length) / 6) ** alpha: divides a hypothesis' log-probability (alpha 0: no penalty)."""
    return ((5.0 + jnp.asarray(length, jnp.float32)) / 6.0) ** alpha


def search(
    first_log_probs: jax.Array,
    state,
    step_fn: Callable,
    gather: Callable,
    *,
    num_beams: int,
    max_new_tokens: int,
    eos_id: int | None,
    alpha: float | jax.Array = 0.6,
):
    """Beam search over `max_new_tokens` steps.

    Args:
      first_log_probs: [B, V] log-probabilities of the first new token.
      state: the decoding state of the B rows (a pytree; `gather` reorders it).
      step_fn: (state of B * K rows, tokens [B * K], step t) -> (log-probs [B * K, V], state): the
        distribution of token t + 1 after token t.
      gather: (state, indices [B * K] into the state's rows) -> state of those rows.
      num_beams: K.
      max_new_tokens: T, the most tokens a hypothesis gets (EOS included).
      eos_id: the token that ends a hypothesis, or None (every hypothesis runs T tokens).
      alpha: the length penalty's exponent (traced).
    Returns:
      (tokens [B, K, T] int32, best first, EOS after the end; scores [B, K] float32; lengths [B, K] int32,
       EOS included).
    """
    B, V = first_log_probs.shape
    K, T = num_beams, max_new_tokens
    stop = -1 if eos_id is None else eos_id
    rows = jnp.arange(B)[:, None]  # [B, 1]

    def expand(log_probs, alive_log_probs, alive_tokens, t):
        """Extends the live hypotheses by one token: the 2K best candidates, and which of them end here."""
        candidates = (alive_log_probs[:, :, None] + log_probs.reshape(B, K, V)).reshape(B, K * V)
        top_log_probs, top = jax.lax.top_k(candidates, 2 * K)  # [B, 2K]
        beam, token = top // V, (top % V).astype(jnp.int32)
        tokens = alive_tokens[rows, beam].at[:, :, t].set(token)  # [B, 2K, T]
        real = top_log_probs > NEG_INF / 2  # not the extension of a hypothesis that does not exist
        return jnp.where(real, top_log_probs, NEG_INF), beam, token, tokens, (token == stop) & real

    def body(carry):
        t, log_probs, alive_log_probs, alive_tokens, finished_scores, finished_tokens, finished_lengths, state = carry
        top_log_probs, beam, token, tokens, ended = expand(log_probs, alive_log_probs, alive_tokens, t)
        # finished: the K best of the old finished and the candidates that end here
        scores = jnp.where(ended, top_log_probs / length_penalty(t + 1, alpha), NEG_INF)
        all_scores = jnp.concatenate([finished_scores, scores], axis=1)  # [B, 3K]
        all_tokens = jnp.concatenate([finished_tokens, tokens], axis=1)
        all_lengths = jnp.concatenate([finished_lengths, jnp.full((B, 2 * K), t + 1, jnp.int32)], axis=1)
        finished_scores, keep = jax.lax.top_k(all_scores, K)
        finished_tokens, finished_lengths = all_tokens[rows, keep], all_lengths[rows, keep]
        # alive: the K best candidates that go on
        alive_log_probs, keep = jax.lax.top_k(jnp.where(ended, NEG_INF, top_log_probs), K)
        alive_tokens = tokens[rows, keep]
        parents = (rows * K + beam[rows, keep]).reshape(B * K)  # rows of the state to continue from
        log_probs, state = step_fn(gather(state, parents), token[rows, keep].reshape(B * K), t)
        return (
            t + 1, log_probs, alive_log_probs, alive_tokens, finished_scores, finished_tokens, finished_lengths, state
        )  # fmt: skip

    def more(carry):
        t, _, alive_log_probs, _, finished_scores = carry[:5]
        # log-probabilities only fall: the best a live hypothesis can still score, at the longest length
        best_alive = alive_log_probs[:, 0] / length_penalty(T, alpha)
        done = jnp.all(finished_scores[:, -1] >= best_alive)
        return (t < T) & ~done

    # Before the first step only beam 0 is live: the K copies of a row would otherwise all extend alike.
    log_probs = jnp.repeat(first_log_probs, K, axis=0)  # [B * K, V]
    alive_log_probs = jnp.tile(jnp.array([0.0] + [NEG_INF] * (K - 1), jnp.float32), (B, 1))
    fill = jnp.full((B, K, T), max(stop, 0), jnp.int32)
    carry = (
        jnp.int32(0), log_probs, alive_log_probs, fill, jnp.full((B, K), NEG_INF, jnp.float32), fill,
        jnp.zeros((B, K), jnp.int32), gather(state, jnp.repeat(jnp.arange(B), K)),
    )  # fmt: skip
    t, _, alive_log_probs, alive_tokens, finished_scores, finished_tokens, finished_lengths, _ = jax.lax.while_loop(
        more, body, carry
    )
    # Rows with fewer than K finished hypotheses take live ones, scored at the length they reached.
    alive_scores = alive_log_probs / length_penalty(t, alpha)
    all_scores = jnp.concatenate([finished_scores, jnp.where(alive_log_probs > NEG_INF / 2, alive_scores, NEG_INF)], 1)
    all_tokens = jnp.concatenate([finished_tokens, alive_tokens], axis=1)
    all_lengths = jnp.concatenate([finished_lengths, jnp.full((B, K), t, jnp.int32)], axis=1)
    scores, keep = jax.lax.top_k(all_scores, K)
    return all_tokens[rows, keep], scores, all_lengths[rows, keep]


def beam_search(
    params,
    prompt,
    valid,
    alpha,
    source=None,
    source_valid=None,
    *,
    model: families.Model,
    num_beams: int,
    max_new_tokens: int,
    eos_id: int | None = None,
):
    """The num_beams best continuations of each (left-padded) prompt row under `model`.

    Args:
      params: model parameters.
      prompt: [B, P] int token ids, left-padded (lm/decoding/generate.py `pad_left`).
      valid: [B, P] bool, False at the padding.
      alpha: the length penalty's exponent (traced: changing it does not recompile).
      source, source_valid: an encoder-decoder's input (lm/decoding/generate.py `prefill`).
      model, num_beams, max_new_tokens, eos_id: static; P + max_new_tokens <= the model's context.
    Returns:
      (tokens [B, K, T], scores [B, K], lengths [B, K]) as `search`, best first.
    """
    B, P = prompt.shape
    logits, cache, positions, key_valid = prefill(
        params, prompt, valid, model=model, cache_len=P + max_new_tokens, source=source, source_valid=source_valid
    )
    batch_axis = 1 if model.config.scan_layers else 0  # a scanned cache is [L, B, S, N, H]

    def gather(state, indices):
        cache, positions, key_valid = state
        cache = jax.tree.map(lambda x: jnp.take(x, indices, axis=batch_axis), cache)
        return cache, positions[indices], key_valid[indices]

    def step_fn(state, token, t):
        cache, positions, key_valid = state
        logits, cache = decode_step(params, token, cache, P + t, positions + t, key_valid, model=model)
        return jax.nn.log_softmax(logits, axis=-1), (cache, positions, key_valid)

    first = jax.nn.log_softmax(logits, axis=-1)
    return search(
        first,
        (cache, positions, key_valid),
        step_fn,
        gather,
        num_beams=num_beams,
        max_new_tokens=max_new_tokens,
        eos_id=eos_id,
        alpha=alpha,
    )


_beam_search_jit = jax.jit(beam_search, static_argnames=("model", "num_beams", "max_new_tokens", "eos_id"))


def compile_beam_search(model: families.Model, num_beams: int, max_new_tokens: int, eos_id: int | None = None):
    """beam_search, jit-compiled once per (model, beams, length, EOS):
    fn(params, prompt, valid, alpha[, source, source_valid])."""
    return functools.partial(
        _beam_search_jit, model=model, num_beams=num_beams, max_new_tokens=max_new_tokens, eos_id=eos_id
    )
