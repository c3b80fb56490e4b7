"""Text in, text out: prompts encoded and checked, continuations generated and decoded, cut at stop strings."""

import jax
import ml_collections
import numpy as np

from lm.decoding import beam, generate
from lm.decoding.sampling import Options
from lm.models.transformer import TransformerLM


def check_causal(model: TransformerLM, what: str) -> None:
    """Raises ValueError when `model` is bidirectional: `what` (generation, scoring) reads left to right."""
    if not model.config.causal:
        raise ValueError(
            f"{what} left to right and needs a causal model; this one is bidirectional (an encoder, trained "
            "with objective=masked, or a classifier on one). Evaluate it with --mode=eval instead."
        )


def encode_prompt(model: TransformerLM, tokenizer, sample: ml_collections.ConfigDict, prompt: str | None = None):
    """The prompt's token ids (default: sample.prompt).

    Raises:
      ValueError: an empty prompt, characters the tokenizer cannot encode, or prompt plus new
        tokens longer than the model's context.
    """
    check_causal(model, "Sampling generates")
    prompt = sample.prompt if prompt is None else prompt
    if not prompt:
        raise ValueError("The prompt is empty. Pass at least one character, e.g. --prompt='\\n'.")
    try:
        ids = tokenizer.encode(prompt)
    except ValueError as e:  # a character vocabulary without some of the prompt's characters
        raise ValueError(
            f"The prompt {prompt!r} (--prompt, or the experiment's sample.prompt: --config.sample.prompt) cannot be "
            f"encoded: {e}"
        ) from e
    max_len = model.config.max_len
    if len(ids) + sample.max_new_tokens > max_len:
        raise ValueError(
            f"The prompt ({len(ids)} tokens) plus max_new_tokens={sample.max_new_tokens} is longer than the "
            f"model's context of {max_len} tokens. Ask for at most {max(max_len - len(ids), 0)} new tokens "
            "(--max_new_tokens) or shorten the prompt."
        )
    return ids


def generate_text(
    model: TransformerLM, tokenizer, params, sample: ml_collections.ConfigDict, prompts: list[str] | None = None
) -> list[str]:
    """sample.num_samples continuations of each prompt (default [sample.prompt]), decoded to text.

    Prompts of different lengths decode together in one left-padded batch. With sample.num_beams > 1
    the continuations are the num_samples best beams of a beam search, best first. A continuation ends at
    the tokenizer's EOS token (sample.stop_at_eos; not included) and before the first of
    sample.stop strings.

    Returns:
      len(prompts) * num_samples texts, prompt + continuation, the samples of each prompt together.
    """
    prompts = [sample.prompt] if prompts is None else list(prompts)
    encoded = [encode_prompt(model, tokenizer, sample, p) for p in prompts]
    eos = tokenizer.special_ids.get("[EOS]") if sample.stop_at_eos else None
    if sample.num_beams > 1:  # the num_samples best beams of each prompt, best first
        tokens, valid = generate.pad_left(encoded)
        fn = beam.compile_beam_search(model, sample.num_beams, sample.max_new_tokens, eos)
        beams, _, beam_lengths = fn(params, tokens, valid, sample.length_penalty)
        out = np.asarray(beams)[:, : sample.num_samples].reshape(-1, sample.max_new_tokens)
        lengths = np.asarray(beam_lengths)[:, : sample.num_samples].reshape(-1)
    else:
        rows = [ids for ids in encoded for _ in range(sample.num_samples)]
        tokens, valid = generate.pad_left(rows)
        fn = generate.compile_generate(model, sample.max_new_tokens, eos)
        options = Options(sample.temperature, sample.top_k, sample.top_p, sample.repetition_penalty)
        out, lengths = fn(params, tokens, valid, jax.random.PRNGKey(sample.seed), options)
    texts = []
    for i, (row, n) in enumerate(zip(np.asarray(out), np.asarray(lengths), strict=True)):
        if eos is not None and row[n - 1] == eos:
            n -= 1
        text = tokenizer.decode(row[:n])
        for stop in sample.stop:
            text = text.split(stop, 1)[0] if stop else text
        texts.append(prompts[i // sample.num_samples] + text)
    return texts
