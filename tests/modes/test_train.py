"""--mode=train (lm/modes/train.py), the default mode: run() trains the workdir to the config's last step."""

from absl import flags

from lm import checkpoint
from lm.modes import MODES, train


def test_train_is_the_default_mode_and_trains_the_workdir(tiny_config, tmp_path, parsed):
    parsed()
    assert MODES[flags.FLAGS.mode] is train
    train.run(tiny_config, str(tmp_path / "run"), "experiments/default.py")
    assert checkpoint.Checkpointer(str(tmp_path / "run"), read_only=True).latest_step() == tiny_config.train.num_steps
