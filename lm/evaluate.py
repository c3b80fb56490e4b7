"""Evaluation over the whole validation split; sampling and scoring with a trained or pretrained model."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lm import hf, sampling, step, tokenizers
from lm import metrics as metrics_lib
from lm.run import Run, describe, prepare


def evaluate(run: Run, state) -> dict[str, float]:
    """Loss, perplexity, bits per token / byte / char and accuracy over every eval token.

    Args:
      run: the prepared run (its runner compiles the eval step once and caches it).
      state: the train state as the runner holds it (replicated under pmap).
    """
    if run.eval_fn is None:
        run.eval_fn = run.runner.compile(
            step.eval_step, donate_state=False, seed=run.config.seed, objective=run.objective
        )
    c = run.config
    totals = None
    for batch in run.data.eval_batches(c.train.eval_batch_size, c.data.seq_len):
        sums = run.eval_fn(state, run.runner.put_batch(batch))
        totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)  # stays on device
    totals = run.runner.get_metrics(totals)
    if "confusion" in totals:
        return metrics_lib.classification_metrics(totals, run.data.label_names)
    totals = {k: float(v) for k, v in totals.items()}
    results = metrics_lib.eval_metrics(totals, run.data.eval_bytes_per_token, run.data.eval_chars_per_token)
    if run.objective.name != "causal":  # the masked loss covers only the selected tokens: no per-byte rate
        del results["bits_per_byte"], results["bits_per_char"]
    return results


def evaluate_workdir(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """--mode=eval: the latest checkpoint of `workdir` on the whole validation split."""
    run = prepare(config, workdir, restore="required")
    print(describe(run), flush=True)
    results = evaluate(run, run.runner.put_state(run.state))
    print(f"eval of the checkpoint at step {int(run.state.step)}:")
    for k, v in results.items():
        print(f"  eval/{k}: {v:.6g}")
    if getattr(run.data, "optimal_loss", None) is not None:
        print(f"  optimal loss (the generator's own): {run.data.optimal_loss:.6g}")
    return results


def sample_workdir(config: ml_collections.ConfigDict, workdir: str, prompts: list[str] | None = None) -> list[str]:
    """--mode=sample: continuations of each prompt (default config.sample.prompt) from the latest checkpoint."""
    run = prepare(config, workdir, restore="required", data=False)
    return print_samples(run, run.state.params, prompts)


def encode_prompt(run: Run, sample: ml_collections.ConfigDict, prompt: str | None = None) -> np.ndarray:
    """The prompt's token ids (default: sample.prompt).

    Raises:
      ValueError: an empty prompt, characters the tokenizer cannot encode, or prompt plus new
        tokens longer than the model's context.
    """
    _check_causal(run, "Sampling generates")
    prompt = sample.prompt if prompt is None else prompt
    if not prompt:
        raise ValueError("The prompt is empty. Pass at least one character, e.g. --prompt='\\n'.")
    ids = run.tokenizer.encode(prompt)
    max_len = run.config.model.max_len
    if len(ids) + sample.max_new_tokens > max_len:
        raise ValueError(
            f"The prompt ({len(ids)} tokens) plus max_new_tokens={sample.max_new_tokens} is longer than the "
            f"model's context of {max_len} tokens. Ask for at most {max(max_len - len(ids), 0)} new tokens "
            "(--max_new_tokens) or shorten the prompt."
        )
    return ids


def generate_text(run: Run, params, sample: ml_collections.ConfigDict, prompts: list[str] | None = None) -> list[str]:
    """sample.num_samples continuations of each prompt (default [sample.prompt]), decoded to text.

    Prompts of different lengths decode together in one left-padded batch. A continuation ends at
    the tokenizer's EOS token (sample.stop_at_eos; not included) and before the first of
    sample.stop strings.

    Returns:
      len(prompts) * num_samples texts, prompt + continuation, the samples of each prompt together.
    """
    prompts = [sample.prompt] if prompts is None else list(prompts)
    rows = [ids for ids in (encode_prompt(run, sample, p) for p in prompts) for _ in range(sample.num_samples)]
    tokens, valid = sampling.pad_left(rows)
    eos = run.tokenizer.special_ids.get("[EOS]") if sample.stop_at_eos else None
    generate = sampling.compile_generate(run.model, sample.max_new_tokens, eos)
    options = sampling.Options(sample.temperature, sample.top_k, sample.top_p, sample.repetition_penalty)
    out, lengths = generate(params, tokens, valid, jax.random.PRNGKey(sample.seed), options)
    texts = []
    for i, (row, n) in enumerate(zip(np.asarray(out), np.asarray(lengths), strict=True)):
        if eos is not None and row[n - 1] == eos:
            n -= 1
        text = run.tokenizer.decode(row[:n])
        for stop in sample.stop:
            text = text.split(stop, 1)[0] if stop else text
        texts.append(prompts[i // sample.num_samples] + text)
    return texts


def print_samples(run: Run, params, prompts: list[str] | None = None) -> list[str]:
    texts = generate_text(run, params, run.config.sample, prompts)
    for i, text in enumerate(texts):
        print(f"--- sample {i + 1} ---\n{text}")
    return texts


def score_text(run: Run, params, text: str) -> dict:
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
    _check_causal(run, "Scoring reads")
    ids = run.tokenizer.encode(text)
    bos = run.tokenizer.special_ids.get("[BOS]")
    tokens = np.concatenate([[bos] if bos is not None else [], ids]).astype(np.int32)
    if len(tokens) < 2:
        raise ValueError(f"The text has {len(ids)} token(s): nothing to score. Pass a longer --text.")
    L = run.config.model.max_len
    window_fn = _window_log_probs(run.model, L)
    log_probs = np.full(len(tokens), np.nan)  # log p(tokens[i] | tokens[:i]); [0] has no context
    scored_to, begin = 1, 0
    while scored_to < len(tokens):
        window = tokens[begin : begin + L]
        padded = np.zeros((1, L), np.int32)
        padded[0, : len(window)] = window
        valid = (np.arange(L) < len(window))[None]
        lp = np.asarray(window_fn(params, padded, valid))[0]  # [L - 1]: of window[1:]
        end = begin + len(window)
        log_probs[scored_to:end] = lp[scored_to - begin - 1 : len(window) - 1]
        scored_to, begin = end, begin + L // 2
    scored = log_probs[1:]
    nll = -float(scored.sum())
    first = 1 if bos is not None else 0  # the pieces of the text itself (not BOS)
    return {
        "tokens": [
            (run.tokenizer.decode([t]), float(lp) if i else None)
            for i, (t, lp) in enumerate(zip(tokens, log_probs, strict=True))
            if i >= first
        ],
        "log_likelihood": -nll,
        "nll_per_token": nll / len(scored),
        "perplexity": float(np.exp(nll / len(scored))),
        "bits_per_byte": nll / np.log(2) / max(len(text.encode("utf-8")), 1),
        "num_scored": len(scored),
    }


def _window_log_probs(model, length: int):
    @jax.jit
    def fn(params, tokens, valid):
        logits = model.apply({"params": params}, tokens, valid=valid)[:, :-1]  # [1, L - 1, V]
        log_probs = jax.nn.log_softmax(logits, axis=-1)
        return jnp.take_along_axis(log_probs, tokens[:, 1:, None], axis=-1)[..., 0]

    return fn


def score_workdir(config: ml_collections.ConfigDict, workdir: str, text: str) -> dict:
    """--mode=score: the latest checkpoint's log-likelihood of `text`, token by token."""
    run = prepare(config, workdir, restore="required", data=False)
    result = score_text(run, run.state.params, text)
    if len(result["tokens"]) <= 200:
        print(f"{'token':>20}  log-prob")
        for piece, lp in result["tokens"]:
            print(f"{piece!r:>20}  {'(no context)' if lp is None else f'{lp:.4f}'}")
    print(
        f"{result['num_scored']} tokens scored | log-likelihood {result['log_likelihood']:.4f} | "
        f"nll/token {result['nll_per_token']:.4f} | perplexity {result['perplexity']:.4f} | "
        f"bits/byte {result['bits_per_byte']:.4f}"
    )
    return result


def _check_causal(run: Run, what: str) -> None:
    if not run.config.model.causal:
        raise ValueError(
            f"{what} left to right and needs a causal model; this workdir holds a model trained with "
            f"objective={run.config.objective!r} (bidirectional attention). Evaluate it with --mode=eval instead."
        )


def export_workdir(config: ml_collections.ConfigDict, workdir: str, directory: str) -> None:
    """--mode=export: the latest checkpoint as a Hugging Face GPT-2 directory (GPT-2-family models).

    Writes config.json and model.safetensors; with a Hugging Face tokenizer (init_from GPT-2) also its
    vocab.json and merges.txt, so that transformers (and init_from) load the directory whole.
    """
    run = prepare(config, workdir, restore="required", data=False)
    hf.write_gpt2(directory, run.config.model.to_dict(), run.state.params)
    written = ["config.json", "model.safetensors"]
    if isinstance(run.tokenizer, tokenizers.HFTokenizer):
        written += run.tokenizer.save_vocab(directory)
    print(f"exported step {int(run.state.step)} of {workdir} to {directory}: {', '.join(written)}")
