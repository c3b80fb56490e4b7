"""--mode=verify: trains the experiment and checks its reproduction contracts: PASS or FAIL.

The contracts are CONTRACTS[arg] in the experiment file; any FAIL exits non-zero (lm/verify.py). A run that
reads token shards not prepared yet prepares them first (--mode=prepare, --num_workers), so that one command
runs a whole recipe.

    python launch.py --config=experiments/shakespeare_char.py:cpu --mode=verify
"""

import sys

from lm.modes import prepare


def run(config, workdir: str, experiment: str) -> None:
    from lm import train, verify

    def prepare_and_train(config, workdir: str) -> None:
        if prepare.unprepared(config):
            prepare.prepare_shards(config)
        train.train(config, workdir)

    results = [verify.verify(config, workdir, c, prepare_and_train) for c in contracts(experiment)]
    if not all(results):
        sys.exit(1)


def contracts(experiment: str) -> list:
    """The experiment file's contracts for its config argument (experiment: "file.py[:arg]")."""
    from lm import experiment as experiment_lib

    path, _, arg = experiment.partition(":")
    declared = experiment_lib.contracts_of(experiment_lib.load(path))
    if arg not in declared:
        have = ", ".join(f"{path}:{a}" for a in declared) or "none"
        raise ValueError(
            f"{path}{':' + arg if arg else ''} declares no reproduction contract (CONTRACTS[{arg!r}] in the file); "
            f"those it declares: {have}."
        )
    return declared[arg]
