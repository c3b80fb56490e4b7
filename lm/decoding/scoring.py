"""Scoring: the log-probability of every token of a text given the ones before, in windows of the context."""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from lm.decoding.text import check_causal
from lm.models import families


def score_text(model: families.Model, tokenizer, params, text: str) -> dict:
    """Per-token log-likelihood of `text` under the model, and its perplexity.

    Each token is scored given the tokens before it. When the tokenizer has a [BOS] token (GPT-2's
    <|endoftext|>), it is prepended so that the first token is scored too; otherwise the first token
    has no context and is not scored. A text longer than the context is scored in windows of
    max_len tokens that advance by half the context, so that every token after the first window
    sees at least max_len / 2 tokens of context (as transformers' perplexity guide does).

    Returns:
      {"tokens": [(token text, log-prob), ...], "log_likelihood", "nll_per_token", "perplexity",
       "bits_per_byte", "num_scored"}.
    """
    check_causal(model, "Scoring reads")
    if families.of(model).sourced:
        raise ValueError(
            f"--mode=score reads one text under a language model; this {model.config.family} model scores a target "
            "given a source. Its teacher-forced loss on held-out pairs is --mode=eval."
        )
    ids = tokenizer.encode(text)
    bos = tokenizer.special_ids.get("[BOS]")
    tokens = np.concatenate([[bos] if bos is not None else [], ids]).astype(np.int32)
    if len(tokens) < 2:
        raise ValueError(f"The text has {len(ids)} token(s): nothing to score. Pass a longer --text.")
    L = model.config.max_len
    log_probs = np.full(len(tokens), np.nan)  # log p(tokens[i] | tokens[:i]); [0] has no context
    scored_to, begin = 1, 0
    while scored_to < len(tokens):
        window = tokens[begin : begin + L]
        padded = np.zeros((1, L), np.int32)
        padded[0, : len(window)] = window
        valid = (np.arange(L) < len(window))[None]
        lp = np.asarray(window_log_probs(params, padded, valid, model=model))[0]  # [L - 1]: of window[1:]
        end = begin + len(window)
        log_probs[scored_to:end] = lp[scored_to - begin - 1 : len(window) - 1]
        scored_to, begin = end, begin + L // 2
    scored = log_probs[1:]
    nll = -float(scored.sum())
    first = 1 if bos is not None else 0  # the pieces of the text itself (not BOS)
    return {
        "tokens": [
            (tokenizer.decode([t]), float(lp) if i else None)
            for i, (t, lp) in enumerate(zip(tokens, log_probs, strict=True))
            if i >= first
        ],
        "log_likelihood": -nll,
        "nll_per_token": nll / len(scored),
        "perplexity": float(np.exp(nll / len(scored))),
        "bits_per_byte": nll / np.log(2) / max(len(text.encode("utf-8")), 1),
        "num_scored": len(scored),
    }


def window_log_probs(params, tokens, valid, *, model: families.Model):
    """[B, L - 1]: log p(tokens[:, t + 1] | tokens[:, :t + 1]) within each (padded) window [B, L]."""
    return token_scores(params, tokens[:, :-1], tokens[:, 1:], valid[:, :-1], model=model)[0]


@functools.partial(jax.jit, static_argnames="model")  # one compilation per model and padded shape
def token_scores(params, inputs, targets, valid, source=None, source_valid=None, *, model: families.Model):
    """log p(targets[b, t] | inputs[b, :t + 1]) [B, T] float32, and whether each target is the argmax [B, T].
    An encoder-decoder reads `source` [B, S] too."""
    encoder = {} if source is None else {"source": source, "source_valid": source_valid}
    logits = model.apply({"params": params}, inputs, valid=valid, **encoder).astype(jnp.float32)  # [B, T, V]
    # The log-softmax at the targets only: no second [B, T, V] array (3.3 GB for GPT-2 at 16 x 1024 tokens).
    scores = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0] - jax.nn.logsumexp(logits, axis=-1)
    return scores, jnp.argmax(logits, axis=-1) == targets
