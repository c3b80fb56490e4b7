"""--mode=train (the default): trains the experiment in its workdir, resuming from the latest checkpoint.

    python launch.py --config=experiments/shakespeare_char.py:cpu --workdir=/tmp/sc

lm/train.py is the loop: checkpoints, evals, metrics, samples at the end, a clean stop on a signal.
--profile=START:NUM_STEPS traces the NUM_STEPS steps after step START with jax.profiler into WORKDIR/profile:

    python launch.py --config=experiments/shakespeare_char.py:cpu --workdir=/tmp/sc --profile=100:5
    tensorboard --logdir=/tmp/sc/profile   # the Profile tab (pip install tensorboard-plugin-profile)
"""

from absl import flags

PROFILE = flags.DEFINE_string("profile", None, "train: START:NUM_STEPS, a jax.profiler trace (config.train.profile)")


def configure(config) -> None:
    if PROFILE.value is not None:
        config.train.profile = PROFILE.value


def run(config, workdir: str, experiment: str) -> None:
    from lm import train

    train.train(config, workdir)
