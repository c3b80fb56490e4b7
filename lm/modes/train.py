"""--mode=train (the default): trains the experiment in its workdir, resuming from the latest checkpoint.

    python launch.py --config=experiments/shakespeare_char.py:cpu --workdir=/tmp/sc

lm/train.py is the loop: checkpoints, evals, metrics, samples at the end, a clean stop on a signal.
"""


def run(config, workdir: str, experiment: str) -> None:
    from lm import train

    train.train(config, workdir)
