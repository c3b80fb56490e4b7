"""lm-evaluation-harness's own command line, with our models registered as `lm-jax`:

    python -m lm.harness --model lm-jax --model_args path=WORKDIR_OR_HF_DIR --tasks hellaswag --batch_size 16

takes every argument of `lm_eval` (tasks, --num_fewshot, --limit, --include_path, --output_path,
--log_samples, ...) and hands it to the harness's `cli_evaluate`. The harness has no plugin hook through
which an installed package could add a model to its own `lm_eval` command (lm-evaluation-harness issues
#1457, #1621, #3282), so this entry imports lm/evaluators/harness.py, whose import registers the name, first.
`--mode=harness` (lm/modes/harness.py) runs the same adapter from a run's config and workdir.
"""

import sys


def main(argv: list[str] | None = None) -> None:
    """Registers `lm-jax`, then runs `lm_eval ARGS` (argv: default sys.argv[1:])."""
    try:
        from lm_eval.__main__ import cli_evaluate
    except ModuleNotFoundError as e:
        sys.exit(f"error: python -m lm.harness needs lm-evaluation-harness ({e}): pip install -r requirements-eval.txt")
    from lm.evaluators import harness  # noqa: F401  (registers lm-jax)

    sys.argv = ["lm_eval", *(sys.argv[1:] if argv is None else argv)]
    cli_evaluate()


if __name__ == "__main__":
    main()
