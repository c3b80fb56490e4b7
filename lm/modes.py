"""The launcher's modes besides train (lm/train.py) and bench (lm/bench.py): each builds what it needs from
the config and the workdir (lm/run.py), calls the library, and prints the result.

    eval             evaluate     the evaluators on the latest checkpoint
    sample           sample       continuations of prompts
    score            score        the log-likelihood of a text, token by token
    export           export       a Hugging Face directory
    harness          harness      lm-evaluation-harness tasks (lm/evaluators/harness.py; needs requirements-eval.txt)
    bench_generate   bench_generate   generation speed with and without the KV cache
"""

import os

import ml_collections

from lm import console, convert, evaluators
from lm.decoding import bench, scoring, text
from lm.run import Run, describe, make_evaluators, prepare


def evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """--mode=eval: the latest checkpoint of `workdir` (or init_from's weights) on the whole eval split."""
    run = prepare(config, workdir, restore="required")
    run.data.save(workdir)  # the token ids, so that the next launch skips tokenizing
    console.log(describe(run))
    results = evaluators.run(make_evaluators(run), run.runner.put_state(run.state))
    lines = [f"eval of the checkpoint at step {int(run.state.step)}:"]
    lines += [f"  eval/{k}: {v:.6g}" for k, v in results.items() if not isinstance(v, list)]
    if run.data.optimal_loss is not None:
        lines.append(f"  optimal loss (the generator's own): {run.data.optimal_loss:.6g}")
    console.log("\n".join(lines))
    return results


def sample(config: ml_collections.ConfigDict, workdir: str, prompts: list[str] | None = None) -> list[str]:
    """--mode=sample: continuations of each prompt (default config.sample.prompt) from the latest checkpoint."""
    run = prepare(config, workdir, restore="required", data=False)
    return print_samples(run, run.state.params, prompts)


def print_samples(run: Run, params, prompts: list[str] | None = None) -> list[str]:
    texts = text.generate_text(run.model, run.tokenizer, params, run.config.sample, prompts)
    console.log("\n".join(f"--- sample {i + 1} ---\n{t}" for i, t in enumerate(texts)))
    return texts


def score(config: ml_collections.ConfigDict, workdir: str, text_to_score: str) -> dict:
    """--mode=score: the latest checkpoint's log-likelihood of a text, token by token."""
    run = prepare(config, workdir, restore="required", data=False)
    result = scoring.score_text(run.model, run.tokenizer, run.state.params, text_to_score)
    lines = []
    if len(result["tokens"]) <= 200:
        lines.append(f"{'token':>20}  log-prob")
        lines += [f"{piece!r:>20}  {'(no context)' if lp is None else f'{lp:.4f}'}" for piece, lp in result["tokens"]]
    lines.append(
        f"{result['num_scored']} tokens scored | log-likelihood {result['log_likelihood']:.4f} | "
        f"nll/token {result['nll_per_token']:.4f} | perplexity {result['perplexity']:.4f} | "
        f"bits/byte {result['bits_per_byte']:.4f}"
    )
    console.log("\n".join(lines))
    return result


def export(config: ml_collections.ConfigDict, workdir: str, directory: str) -> None:
    """--mode=export: the latest checkpoint as a Hugging Face directory (GPT-2 or Llama-family models).

    Writes config.json and model.safetensors; with a Hugging Face tokenizer (init_from GPT-2) also its
    vocab.json and merges.txt, so that transformers (and init_from) load the directory whole.
    """
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ValueError(f"--out={directory} is a file. Pass a directory (new, or one to write the files into).")
    run = prepare(config, workdir, restore="required", data=False)
    family = convert.write_model(directory, run.config.model.to_dict(), run.state.params)
    written = ["config.json", "model.safetensors", *run.tokenizer.save_vocab(directory)]
    console.log(f"exported step {int(run.state.step)} of {workdir} to {directory} as {family}: {', '.join(written)}")


def harness(
    config: ml_collections.ConfigDict,
    workdir: str,
    tasks: list[str],
    num_fewshot: int | None = None,
    limit: float | None = None,
    batch_size: int = 16,
    include_paths: list[str] = (),
) -> dict:
    """--mode=harness: lm-evaluation-harness tasks on the latest checkpoint (or init_from's weights).

    Writes WORKDIR/harness/results.json (the harness's results) and results.md (its table), and prints the
    table. heldout_continuation among `tasks` is built from the run's held-out text (lm/evaluators/harness_task.py).
    `limit`: at most this many examples per task (below 1: this fraction of them).
    """
    if not tasks:
        raise ValueError("--mode=harness needs --tasks=NAME[,NAME...], e.g. --tasks=heldout_continuation.")
    if (num_fewshot or 0) < 0 or (limit is not None and limit <= 0) or batch_size < 1:
        raise ValueError(
            f"--num_fewshot={num_fewshot} must be >= 0, --limit={limit} above 0 and --harness_batch_size={batch_size} "
            "at least 1."
        )
    limit = int(limit) if limit is not None and limit >= 1 else limit  # the harness reads a float as a fraction
    try:
        from lm.evaluators import harness as harness_lm
        from lm.evaluators import harness_task
    except ModuleNotFoundError as e:  # lm_eval is an optional install
        if (e.name or "").startswith("lm."):
            raise
        raise ValueError(
            f"--mode=harness needs lm-evaluation-harness ({e}). Install it: pip install -r requirements-eval.txt"
        ) from e
    run = prepare(config, workdir, restore="required", data=False)
    console.log(describe(run))
    paths = harness_task.include_paths(tasks, run.config.data, workdir, run.config.model.max_len, list(include_paths))
    lm = harness_lm.HarnessLM(model=run.model, params=run.state.params, tokenizer=run.tokenizer, batch_size=batch_size)
    results, _ = harness_task.evaluate(lm, tasks, paths, num_fewshot, limit, os.path.join(workdir, "harness"))
    return results


def bench_generate(
    config: ml_collections.ConfigDict, batch_sizes: list[int], prompt_len: int, new_tokens: int, repeats: int = 3
) -> dict:
    """--mode=bench_generate: generation speed of the experiment's model (fresh weights; no workdir)."""
    run = prepare(config, None, restore="never")  # the data only gives the tokenizer's vocabulary
    return bench.bench_generate(run.model, run.state.params, batch_sizes, prompt_len, new_tokens, repeats)
