"""--mode=harness: lm-evaluation-harness tasks on the workdir's latest checkpoint (or init_from's weights).
Needs `pip install -r requirements-eval.txt`.

    python launch.py --config=experiments/shakespeare_char.py:cpu --workdir=/tmp/sc --mode=harness \\
        --tasks=heldout_continuation --num_fewshot=3

Writes WORKDIR/harness/results.json (the harness's results) and results.md (its table), prints the table and,
without --limit, adds the numbers to metrics.jsonl at the checkpoint's step as harness/<task>/<metric> (what
--mode=verify's contracts read). heldout_continuation among the tasks is built from the run's held-out text,
hellaswag_local from --hellaswag=FILE (lm/evaluators/harness_task.py).
"""

import os

from absl import flags

TASKS = flags.DEFINE_list("tasks", None, "harness: lm-evaluation-harness tasks, e.g. heldout_continuation")
NUM_FEWSHOT = flags.DEFINE_integer("num_fewshot", None, "harness: examples before each question (default: the task's)")
LIMIT = flags.DEFINE_float("limit", None, "harness: at most this many examples per task (< 1: this fraction)")
BATCH_SIZE = flags.DEFINE_integer("harness_batch_size", 16, "harness: requests per compiled call")
HELLASWAG = flags.DEFINE_string(
    "hellaswag", None, "harness: HellaSwag's validation set as JSONL, for --tasks=hellaswag_local"
)
INCLUDE_PATH = flags.DEFINE_multi_string(
    "include_path", None, "harness: a directory of task YAML files of your own (repeatable)"
)


def run(config, workdir: str, experiment: str) -> None:
    options = dict(include_paths=INCLUDE_PATH.value or [], hellaswag=HELLASWAG.value)
    harness(config, workdir, TASKS.value, NUM_FEWSHOT.value, LIMIT.value, BATCH_SIZE.value, **options)


def harness(
    config,
    workdir: str,
    tasks: list[str],
    num_fewshot: int | None = None,
    limit: float | None = None,
    batch_size: int = 16,
    include_paths: list[str] = (),
    hellaswag: str | None = None,
) -> dict:
    """The harness's results of `tasks`; `limit`: at most this many examples per task (below 1: this fraction).
    They are also added to the workdir's metrics.jsonl at the checkpoint's step, as harness/<task>/<metric>
    (what a reproduction contract names)."""
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
    from lm import console, metrics
    from lm.run import describe, prepare

    run = prepare(config, workdir, restore="required", data=False)
    console.log(describe(run))
    # the model is checked (a model that cannot continue text is refused) before any task file is written
    lm = harness_lm.HarnessLM(model=run.model, params=run.state.params, tokenizer=run.tokenizer, batch_size=batch_size)
    try:
        paths = harness_task.include_paths(
            tasks, run.config.data, workdir, run.config.model.max_len, list(include_paths), hellaswag
        )
        results, _ = harness_task.evaluate(lm, tasks, paths, num_fewshot, limit, os.path.join(workdir, "harness"))
    except OSError as e:  # the workdir read-only or full: task files and results cannot be written
        raise ValueError(
            f"Cannot write the harness's task files or results into {workdir} ({e.strerror or e}). Make the "
            "workdir writable (or give it room), or run the harness on a copy of it."
        ) from e
    if limit is None:  # a --limit run scores a subset: not the task's number
        metrics.append(workdir, int(run.state.step), harness_task.scalars(results))
    return results
