"""--mode=sweep: trains every variant of the experiment file's get_sweep(arg), each in WORKDIR/<variant>.

lm/sweep.py keeps a status file per variant; a failed variant leaves the others running.

    python launch.py --config=experiments/positions.py:cpu --mode=sweep --workdir=/tmp/pos
"""

import sys

from absl import flags

INDEX = flags.DEFINE_integer(
    "sweep_index", None, "sweep: run only this variant (default: all; SLURM_ARRAY_TASK_ID when set)"
)


def run(config, workdir: str, experiment: str) -> None:
    from lm import console, sweep, train

    variants = sweep.select(sweep.expand(overrides(experiment)), INDEX.value)
    sweep.check_overrides(config, variants)
    statuses = sweep.run(config, workdir, variants, train.train)
    console.log(sweep.summary(statuses))
    if any(s["status"] == "failed" for s in statuses):
        sys.exit(1)


def overrides(experiment: str) -> list:
    """The experiment file's get_sweep(arg) (experiment: "file.py[:arg]")."""
    from lm import experiment as experiment_lib

    path, _, arg = experiment.partition(":")
    module = experiment_lib.load(path)
    if not hasattr(module, "get_sweep"):
        raise ValueError(
            f"{path} defines no get_sweep(arg): a sweep is a list of config overrides that the experiment file "
            "returns from get_sweep (lm/sweep.py shows one). For a single run, use --mode=train."
        )
    try:
        return module.get_sweep(arg) if arg else module.get_sweep()
    except Exception as e:  # noqa: BLE001 -- the user's code: its error, named, without our traceback
        raise ValueError(
            f"{path}'s get_sweep({arg!r}) raised {type(e).__name__}: {e}. Fix the experiment file (run "
            "--mode=sweep --traceback for where)."
        ) from e
