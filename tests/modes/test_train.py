"""--mode=train (lm/modes/train.py), the default mode: run() trains the workdir to the config's last step."""

import glob

from absl import flags

from lm import checkpoint
from lm.modes import MODES, train
from tests import launcher


def test_train_is_the_default_mode_and_trains_the_workdir(tiny_config, tmp_path, parsed):
    parsed()
    assert MODES[flags.FLAGS.mode] is train
    train.run(tiny_config, str(tmp_path / "run"), "experiments/default.py")
    assert checkpoint.Checkpointer(str(tmp_path / "run"), read_only=True).latest_step() == tiny_config.train.num_steps


def test_profile_traces_the_steps_it_names_into_the_workdir(tmp_path):
    """--profile=1:2 (config.train.profile): a jax.profiler trace of steps 2 and 3, the train step's program in
    it, written by the launcher into WORKDIR/profile (TensorBoard's profile plugin layout)."""
    smoke = f"--config={launcher.ROOT}/experiments/default.py:smoke"
    result = launcher.launch(smoke, f"--workdir={tmp_path}/run", "--profile=1:2", cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"profile: steps 2 to 3 traced in {tmp_path}/run/profile" in result.stdout
    (trace,) = glob.glob(str(tmp_path / "run" / "profile" / "plugins" / "profile" / "*" / "*.xplane.pb"))
    with open(trace, "rb") as f:
        assert b"train_step" in f.read()
