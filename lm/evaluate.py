"""Evaluation over the whole validation split, and sampling from a trained workdir."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lm import metrics as metrics_lib
from lm import sampling, step
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


def sample_workdir(config: ml_collections.ConfigDict, workdir: str) -> list[str]:
    """--mode=sample: continuations of config.sample.prompt from the latest checkpoint."""
    run = prepare(config, workdir, restore="required")
    return print_samples(run, run.state.params)


def encode_prompt(run: Run, sample: ml_collections.ConfigDict) -> np.ndarray:
    """The prompt's token ids.

    Raises:
      ValueError: an empty prompt, characters the tokenizer cannot encode, or prompt plus new
        tokens longer than the model's context.
    """
    if not run.config.model.causal:
        raise ValueError(
            "Sampling generates left to right and needs a causal model; this workdir holds a model trained with "
            f"objective={run.config.objective!r} (bidirectional attention). Evaluate it with --mode=eval instead."
        )
    if not sample.prompt:
        raise ValueError("The prompt is empty. Pass at least one character, e.g. --prompt='\\n'.")
    prompt = run.data.tokenizer.encode(sample.prompt)
    max_len = run.config.model.max_len
    if len(prompt) + sample.max_new_tokens > max_len:
        raise ValueError(
            f"The prompt ({len(prompt)} tokens) plus max_new_tokens={sample.max_new_tokens} is longer than the "
            f"model's context of {max_len} tokens. Ask for at most {max(max_len - len(prompt), 0)} new tokens "
            "(--max_new_tokens) or shorten the prompt."
        )
    return prompt


def generate_text(run: Run, params, sample: ml_collections.ConfigDict) -> list[str]:
    """sample.num_samples continuations of sample.prompt, decoded to text."""
    prompt = encode_prompt(run, sample)
    generate = sampling.compile_generate(run.model, sample.max_new_tokens)
    prompts = jnp.asarray(np.tile(prompt, (sample.num_samples, 1)))
    tokens = generate(params, prompts, jax.random.PRNGKey(sample.seed), sample.temperature, sample.top_k, sample.top_p)
    return [sample.prompt + run.data.tokenizer.decode(row) for row in np.asarray(tokens)]


def print_samples(run: Run, params) -> list[str]:
    texts = generate_text(run, params, run.config.sample)
    for i, text in enumerate(texts):
        print(f"--- sample {i + 1} ---\n{text}")
    return texts
