"""Text in, text out: prompts encoded and checked, continuations generated and decoded, cut at stop strings.

A decoder-only model continues its prompt; an encoder-decoder reads the prompt as its source and writes
a target from [BOS] (translation, summarisation, the built-in tasks).
"""

import jax
import ml_collections
import numpy as np

from lm import console
from lm.decoding import beam, generate
from lm.decoding.sampling import Options
from lm.models import families


def can_generate(model) -> bool:
    """Whether the model writes text left to right: a decoder, or an encoder-decoder's decoder."""
    return model.config.causal or families.of(model).sourced


def check_causal(model: families.Model, what: str) -> None:
    """Raises ValueError when `model` is bidirectional: `what` (generation, scoring) reads left to right."""
    if not can_generate(model):
        raise ValueError(
            f"{what} left to right and needs a causal model; this one is bidirectional (an encoder, trained "
            "with objective=masked, or a classifier on one). Evaluate it with --mode=eval instead."
        )


def encode_prompt(model: families.Model, tokenizer, sample: ml_collections.ConfigDict, prompt: str | None = None):
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
    if families.of(model).sourced:  # the prompt is the source; the target starts at [BOS]
        if len(ids) > max_len:
            raise ValueError(
                f"The source ({len(ids)} tokens) is longer than the model's context of {max_len} tokens (its "
                f"encoder reads at most {max_len}). Shorten the prompt (--prompt, or --config.sample.prompt)."
            )
        if 1 + sample.max_new_tokens > max_len:
            raise ValueError(
                f"[BOS] plus max_new_tokens={sample.max_new_tokens} is longer than the model's context of {max_len} "
                f"tokens. Ask for at most {max_len - 1} new tokens (--max_new_tokens)."
            )
        return ids
    ids = np.concatenate([getattr(tokenizer, "prompt_prefix", []), ids]).astype(np.int32)  # Llama's <s>
    if len(ids) + sample.max_new_tokens > max_len:
        room = max_len - len(ids)
        if room > 0:
            fix = f"Ask for at most {room} new tokens (--max_new_tokens) or shorten the prompt"
        elif max_len > len(getattr(tokenizer, "prompt_prefix", [])) + 1:
            fix = (
                f"Shorten the prompt to fewer than {max_len} tokens (--prompt, or sample.prompt='' for no samples), "
                "or train with a longer context (data.seq_len)"
            )
        else:
            fix = "No prompt fits: train with a longer context (data.seq_len), or set sample.prompt='' for no samples"
        raise ValueError(
            f"The prompt ({len(ids)} tokens) plus max_new_tokens={sample.max_new_tokens} is longer than the "
            f"model's context of {max_len} tokens. {fix}."
        )
    return ids


def generate_text(
    model: families.Model, tokenizer, params, sample: ml_collections.ConfigDict, prompts: list[str] | None = None
) -> list[str]:
    """sample.num_samples continuations of each prompt (default [sample.prompt]), decoded to text.

    Returns:
      len(prompts) * num_samples texts, the samples of each prompt together: prompt + continuation, or for
      an encoder-decoder the target it writes for the prompt.
    """
    samples = generate_samples(model, tokenizer, params, sample, prompts, log_probability=False)
    return [s["continuation"] if families.of(model).sourced else s["prompt"] + s["continuation"] for s in samples]


def generate_samples(
    model: families.Model,
    tokenizer,
    params,
    sample: ml_collections.ConfigDict,
    prompts: list[str] | None = None,
    log_probability: bool = True,
) -> list[dict]:
    """sample.num_samples continuations of each prompt (default [sample.prompt]), as records.

    Prompts of different lengths decode together in one left-padded batch. With sample.num_beams > 1
    the continuations are the num_samples best beams of a beam search, best first. A continuation ends at
    the tokenizer's EOS token (sample.stop_at_eos; not included) and before the first of
    sample.stop strings.

    Returns:
      len(prompts) * num_samples records, the samples of each prompt together: {"prompt", "sample" (its
      index among the prompt's), "continuation" (the text after the prompt; an encoder-decoder's target),
      "num_tokens" (tokens generated, EOS not counted), "log_probability" (of those tokens given the prompt
      under the model's own distribution: temperature 1, no top-k / top-p; before any stop string's cut;
      None unless `log_probability`)}.
    """
    prompts = [sample.prompt] if prompts is None else list(prompts)
    encoded = [encode_prompt(model, tokenizer, sample, p) for p in prompts]
    eos = tokenizer.special_ids.get("[EOS]") if sample.stop_at_eos else None
    seq2seq = families.of(model).sourced
    copies = 1 if sample.num_beams > 1 else sample.num_samples  # rows per prompt: beams are found per row
    rows = [ids for ids in encoded for _ in range(copies)]
    encoder = ()
    if seq2seq:  # the prompts are the sources, right-padded; every target starts at [BOS]
        source, source_valid = pad_right(rows, tokenizer.special_ids.get("[PAD]", 0))
        encoder = (source, source_valid)
        rows = [np.asarray([tokenizer.special_ids["[BOS]"]], np.int32)] * len(rows)
    tokens, valid = generate.pad_left(rows)
    if sample.num_beams > 1:  # the num_samples best beams of each prompt, best first
        fn = beam.compile_beam_search(model, sample.num_beams, sample.max_new_tokens, eos)
        beams, _, beam_lengths = fn(params, tokens, valid, sample.length_penalty, *encoder)
        out = np.asarray(beams)[:, : sample.num_samples].reshape(-1, sample.max_new_tokens)
        lengths = np.asarray(beam_lengths)[:, : sample.num_samples].reshape(-1)
    else:
        fn = generate.compile_generate(model, sample.max_new_tokens, eos)
        options = Options(sample.temperature, sample.top_k, sample.top_p, sample.repetition_penalty)
        out, lengths = fn(params, tokens, valid, jax.random.PRNGKey(sample.seed), options, *encoder)
    news = [without_eos(row, n, eos) for row, n in zip(np.asarray(out), np.asarray(lengths), strict=True)]
    heads = [encoded[i // sample.num_samples] for i in range(len(news))]  # each sample's prompt ids
    log_probs = _log_probabilities(model, tokenizer, params, heads, news) if log_probability else [None] * len(news)
    samples = []
    for i, new in enumerate(news):
        text = decode(tokenizer, new) if seq2seq else continuation(tokenizer, heads[i], new)
        for stop in sample.stop:
            text = text.split(stop, 1)[0] if stop else text
        samples.append({"prompt": prompts[i // sample.num_samples], "sample": i % sample.num_samples,
                        "continuation": text, "num_tokens": len(new), "log_probability": log_probs[i]})  # fmt: skip
    return samples


def _log_probabilities(model, tokenizer, params, prompts: list[np.ndarray], news: list[np.ndarray]) -> list[float]:
    """log p(new | prompt) of each row, teacher forced: a decoder reads prompt + new, an encoder-decoder the
    prompt as its source and [BOS] + new. Rows are padded to the context (encode_prompt keeps prompt + new
    within it), so that the batches of a prompt file share one compiled scorer."""
    from lm.decoding import scoring  # which imports this module

    L = model.config.max_len
    encoder = {}
    if families.of(model).sourced:
        source, source_valid = pad_right(prompts, tokenizer.special_ids.get("[PAD]", 0), L)
        encoder = {"source": source, "source_valid": source_valid}
        prompts = [np.asarray([tokenizer.special_ids["[BOS]"]], np.int32)] * len(prompts)
    rows = [np.concatenate([p, n]).astype(np.int32) for p, n in zip(prompts, news, strict=True)]
    tokens, valid = pad_right(rows, 0, max(L, 2))
    scores, _ = scoring.token_scores(params, tokens[:, :-1], tokens[:, 1:], valid[:, :-1], **encoder, model=model)
    scores = np.asarray(scores)  # [B, L - 1]: scores[b, t] is of tokens[b, t + 1]
    return [
        float(scores[b, len(p) - 1 : len(p) - 1 + len(n)].sum())
        for b, (p, n) in enumerate(zip(prompts, news, strict=True))
    ]


def print_samples(model, tokenizer, params, sample: ml_collections.ConfigDict, prompts: list[str] | None = None):
    """generate_text's texts, printed (process 0) under --- sample i --- lines, and returned."""
    texts = generate_text(model, tokenizer, params, sample, prompts)
    console.log("\n".join(f"--- sample {i + 1} ---\n{t}" for i, t in enumerate(texts)))
    return texts


def continuation(tokenizer, prompt: np.ndarray, new: np.ndarray) -> str:
    """The text `new` adds after `prompt`: decoded together, as a tokenizer may write a token's leading space
    only inside a text (SentencePiece's "▁" at the start of a decode is dropped), then less the prompt's text."""
    before = decode(tokenizer, prompt)
    together = decode(tokenizer, np.concatenate([prompt, new]))
    return together[len(before) :] if together.startswith(before) else decode(tokenizer, new)


def without_eos(row: np.ndarray, length: int, eos: int | None) -> np.ndarray:
    """A generated row's first `length` tokens, less the EOS that ended it."""
    length = int(length)
    return row[: length - 1] if eos is not None and length and row[length - 1] == eos else row[:length]


def decode(tokenizer, ids) -> str:
    """Token ids to text; ids past the tokenizer's vocabulary (span corruption's sentinels, lm/objectives.py)
    written as T5 writes them, <extra_id_N>."""
    out, run = [], []
    for i in map(int, ids):
        if i < tokenizer.vocab_size:
            run.append(i)
            continue
        out.append(tokenizer.decode(run) + f"<extra_id_{i - tokenizer.vocab_size}>")
        run = []
    return "".join(out) + tokenizer.decode(run)


def pad_right(rows: list[np.ndarray], pad_id: int, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Token-id rows of different lengths as one right-padded batch: (tokens [B, L], valid [B, L]); L is
    `width`, or the longest row's length."""
    L = width or max(len(r) for r in rows)
    tokens = np.full((len(rows), L), pad_id, np.int32)
    valid = np.zeros((len(rows), L), bool)
    for i, r in enumerate(rows):
        tokens[i, : len(r)], valid[i, : len(r)] = r, True
    return tokens, valid
