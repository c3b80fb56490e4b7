"""Autoregressive generation with the KV cache: one prefill over the prompts, then one token per step.

`generate` is a pure function; `compile_generate` jits it once per (model, batch shape, length) and
then serves any prompts of that shape. The sampling options are traced values, so changing the
temperature, top-k, top-p or repetition penalty does not recompile. Temperature 0 is greedy decoding.

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

import flax
import jax
import jax.numpy as jnp
import numpy as np

from lm.model import TransformerLM, init_cache


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


def _seen(prompt, valid, vocab_size: int):
    """[B, V] bool: the tokens of each (left-padded) prompt, padding excluded."""
    return jnp.zeros((prompt.shape[0], vocab_size), bool).at[jnp.arange(prompt.shape[0])[:, None], prompt].max(valid)


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


def prefill(params, prompt, valid, *, model: TransformerLM, cache_len: int):
    """Runs the (left-padded) prompts through a fresh cache of cache_len slots.

    Returns:
      (logits [B, V] at each prompt's last token, cache, positions [B] of the next token,
       key_valid [B, cache_len]).
    """
    B, P = prompt.shape
    positions = jnp.maximum(jnp.cumsum(valid, axis=1) - 1, 0)  # 0 at each row's first real token
    key_valid = jnp.concatenate([valid, jnp.ones((B, cache_len - P), bool)], axis=1)
    cache = init_cache(model.config, B, cache_len)
    logits, cache = model.apply({"params": params}, prompt, cache, 0, positions, key_valid, method=TransformerLM.decode)
    return logits[:, -1], cache, positions[:, -1] + 1, key_valid


def decode_step(params, token, cache, slot, positions, key_valid, *, model: TransformerLM):
    """One new token per row [B] into cache slot `slot` at `positions` [B]: (logits [B, V], cache)."""
    logits, cache = model.apply(
        {"params": params}, token[:, None], cache, slot, positions[:, None], key_valid, method=TransformerLM.decode
    )
    return logits[:, -1], cache


def generate(
    params,
    prompt,
    valid,
    rng,
    options: Options,
    *,
    model: TransformerLM,
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
      model: the TransformerLM (static).
      max_new_tokens: how many tokens to add (static); P + max_new_tokens <= model.config.max_len.
      eos_id: a row that emits this token stops; its later tokens are eos_id (static; None: never stop).
    Returns:
      (tokens [B, max_new_tokens] int32, lengths [B] int32: the tokens up to and including EOS).
    """
    B, P = prompt.shape
    logits, cache, positions, key_valid = prefill(params, prompt, valid, model=model, cache_len=P + max_new_tokens)
    out = jnp.full((B, max_new_tokens), 0 if eos_id is None else eos_id, jnp.int32)
    choose = functools.partial(choose_token, rng=rng, options=options, eos_id=eos_id)
    token, seen, done = choose(0, logits, _seen(prompt, valid, logits.shape[-1]), jnp.zeros(B, bool))
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
    params, prompt, valid, rng, options: Options, *, model: TransformerLM, max_new_tokens: int, eos_id=None
):
    """`generate` without a KV cache: every step runs the whole sequence so far (a reference; slow).

    The sequence lives in a buffer of fixed length P + max_new_tokens, so each step costs a full
    forward pass over it. Returns the tokens [B, max_new_tokens] (the lengths are not tracked).
    """
    B, P = prompt.shape
    tokens = jnp.concatenate([prompt, jnp.zeros((B, max_new_tokens), prompt.dtype)], axis=1)
    valid = jnp.concatenate([valid, jnp.ones((B, max_new_tokens), bool)], axis=1)
    positions = jnp.maximum(jnp.cumsum(valid, axis=1) - 1, 0)
    seen = _seen(prompt, valid[:, :P], model.config.vocab_size)

    def step(carry, i):
        tokens, seen, done = carry
        logits = model.apply({"params": params}, tokens, positions, valid=valid)  # [B, S, V]
        token, seen, done = choose_token(i, logits[:, P + i - 1], seen, done, rng, options, eos_id)
        return (jax.lax.dynamic_update_slice(tokens, token[:, None], (0, P + i)), seen, done), None

    (tokens, _, _), _ = jax.lax.scan(step, (tokens, seen, jnp.zeros(B, bool)), jnp.arange(max_new_tokens))
    return tokens[:, P:]


def compile_generate(model: TransformerLM, max_new_tokens: int, eos_id: int | None = None, cache: bool = True):
    """generate (or generate_uncached), jit-compiled for this model, length and EOS."""
    fn = generate if cache else generate_uncached
    return jax.jit(functools.partial(fn, model=model, max_new_tokens=max_new_tokens, eos_id=eos_id))
