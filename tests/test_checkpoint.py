"""Orbax checkpoints: a round trip, and a checkpoint that does not fit the model named with its shapes."""

import errno
import os
import re
import shutil
import subprocess

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from lm import checkpoint, train
from lm.run import prepare
from tests import launcher


def test_checkpoint_round_trip(tiny_config, tmp_path):
    run = prepare(tiny_config, str(tmp_path))
    state = run.state.replace(step=7, params=jax.tree.map(lambda p: p + 1.0, run.state.params))
    ckpt = checkpoint.Checkpointer(str(tmp_path))
    ckpt.save(state)
    ckpt.close()
    restored = checkpoint.Checkpointer(str(tmp_path)).restore(run.state)
    assert int(restored.step) == 7
    for x, y in zip(jax.tree.leaves(state.params), jax.tree.leaves(restored.params), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_checkpoint_that_does_not_fit_the_model_is_a_clear_error(tiny_config, tmp_path):
    workdir = str(tmp_path / "run")
    train.train(tiny_config, workdir)
    os.remove(os.path.join(workdir, "config.json"))  # only the checkpoint itself can tell now
    other = tiny_config.copy_and_resolve_references()
    other.model.d_ff = 64
    with pytest.raises(ValueError, match=r"does not match the configured model.*\(32, 64\)"):
        prepare(other, workdir)


def test_restore_params_reads_any_checkpoint_as_saved_and_an_empty_workdir_is_named(tiny_config, tmp_path):
    run = prepare(tiny_config, str(tmp_path))
    ckpt = checkpoint.Checkpointer(str(tmp_path))
    ckpt.save(run.state.replace(step=3))
    ckpt.close()
    params = checkpoint.Checkpointer(str(tmp_path)).restore_params()
    jax.tree.map(np.testing.assert_array_equal, params, jax.device_get(run.state.params))
    with pytest.raises(ValueError, match="No checkpoint in .*empty.*init_from must name a workdir that has"):
        checkpoint.Checkpointer(str(tmp_path / "empty"), read_only=True).restore_params()


def trained(config, workdir, steps):
    """Trains to `steps` with the learning-rate schedule of the whole run (config.train.num_steps)."""
    c = config.copy_and_resolve_references()
    c.optim.decay_steps = config.train.num_steps
    c.train.num_steps = steps
    train.train(c, str(workdir))


def final_params(config, workdir):
    return jax.device_get(prepare(config, str(workdir), restore="required").state.params)


def corrupt(step_dir):
    """Truncates every data file of a checkpoint, as a disk that filled up under a copy would."""
    for root, _, files in os.walk(step_dir):
        for name in files:
            if os.sep + "d" in root:
                open(os.path.join(root, name), "r+b").truncate(0)


def tree_snapshot(path):
    return sorted(
        (os.path.relpath(os.path.join(r, f), path), os.path.getsize(os.path.join(r, f)))
        for r, _, fs in os.walk(path)
        for f in fs
    )


def test_an_unreadable_latest_checkpoint_is_passed_over_and_the_run_continues_as_if_uninterrupted(
    tiny_config, tmp_path, capsys
):
    tiny_config.train.num_steps = 6
    trained(tiny_config, tmp_path / "straight", 6)
    trained(tiny_config, tmp_path / "run", 4)  # checkpoints 2 and 4
    corrupt(tmp_path / "run" / "checkpoints" / "4")
    before = tree_snapshot(tmp_path / "run")
    capsys.readouterr()
    evaluated = prepare(tiny_config, str(tmp_path / "run"), restore="required")  # a reader: changes nothing
    assert int(evaluated.state.step) == 2
    assert "checkpoint at step 4" in capsys.readouterr().out and tree_snapshot(tmp_path / "run") == before
    train.train(tiny_config, str(tmp_path / "run"))  # moves it aside, continues from step 2
    out = capsys.readouterr().out
    assert "moved the unreadable checkpoint at step 4" in out and "resuming from the checkpoint at step 2" in out
    (aside,) = os.listdir(tmp_path / "run" / checkpoint.UNREADABLE)
    assert aside.startswith("4-")
    jax.tree.map(
        np.testing.assert_array_equal,
        final_params(tiny_config, tmp_path / "run"),
        final_params(tiny_config, tmp_path / "straight"),
    )


def test_a_save_cut_short_by_kill_9_is_ignored_then_cleaned_up(tiny_config, tmp_path):
    tiny_config.train.num_steps = 6
    trained(tiny_config, tmp_path / "straight", 6)
    trained(tiny_config, tmp_path / "run", 4)
    partial = tmp_path / "run" / "checkpoints" / "6.orbax-checkpoint-tmp-1796040000"  # what orbax leaves mid-save
    shutil.copytree(tmp_path / "run" / "checkpoints" / "4", partial)
    corrupt(partial)
    assert int(prepare(tiny_config, str(tmp_path / "run")).state.step) == 4
    train.train(tiny_config, str(tmp_path / "run"))
    assert sorted(os.listdir(tmp_path / "run" / "checkpoints")) == ["2", "4", "6"]
    jax.tree.map(
        np.testing.assert_array_equal,
        final_params(tiny_config, tmp_path / "run"),
        final_params(tiny_config, tmp_path / "straight"),
    )


def test_a_failed_save_names_the_last_complete_checkpoint(tiny_config, tmp_path, monkeypatch):
    real_save = ocp.CheckpointManager.save

    def save(self, step, *args, **kwargs):
        if step == 4:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, step, *args, **kwargs)

    monkeypatch.setattr(ocp.CheckpointManager, "save", save)
    with pytest.raises(
        ValueError,
        match=r"checkpoint of step 4 .* failed: \[Errno 28\] No space left on device\. The last complete .* step 2",
    ):
        train.train(tiny_config, str(tmp_path / "run"))
    assert checkpoint.Checkpointer(str(tmp_path / "run"), read_only=True).latest_step() == 2


def test_a_damaged_checkpoint_is_named_by_its_file(tiny_config, tmp_path, capsys):
    """TensorStore's errors carry the whole spec of the array it read (pages); the warning gives the cause and
    the file. orbax's JSON error names no file: the metadata file that is not JSON is found and named."""
    trained(tiny_config, tmp_path / "run", 4)
    for data in (tmp_path / "run" / "checkpoints" / "4" / "default" / "d").iterdir():
        data.write_bytes(bytes(100))  # overwritten, as a disk that failed under a copy leaves it
    open(tmp_path / "run" / "checkpoints" / "2" / "default" / "_METADATA", "w").close()
    capsys.readouterr()
    with pytest.raises(ValueError, match="No checkpoint in .* can be read"):
        prepare(tiny_config, str(tmp_path / "run"), restore="required")
    step_4, step_2 = capsys.readouterr().out.strip().splitlines()
    assert "tensorstore_spec" not in step_4 and len(step_4) < 500
    assert re.search(r"step 4 .* cannot be read: .*, in .*/checkpoints/4/default/d/\w+\. Using", step_4)
    assert f"{tmp_path}/run/checkpoints/2/default/_METADATA is not JSON (Expecting value" in step_2


def test_a_full_disk_stops_with_one_line_and_the_run_resumes(tmp_path):
    """A file size limit (`ulimit -f`) fails writes as a full disk does (EFBIG for ENOSPC): at 30 KB the first
    checkpoint, at 1 KB the rewrite of config.json. Each stops the launcher with one line naming the file,
    the workdir's files as they were (no half-written config.json, no temporary file); without the limit, the
    same command finishes the run."""

    env = dict(os.environ, XLA_FLAGS="", LM_COMPILATION_CACHE=str(tmp_path / "cache"))  # cut-short entries: ours
    workdir = tmp_path / "run"
    command = launcher.command(f"--config={launcher.ROOT}/experiments/default.py:smoke", f"--workdir={workdir}")
    config_json = None
    for kilobytes, named in ((30, f"Saving the checkpoint of step 4 to {workdir}/checkpoints failed"), (1, "")):
        limited = ["bash", "-c", f'ulimit -f {kilobytes} && exec "$@"', "bash", *command]  # units of 1 KB
        run = subprocess.run(limited, capture_output=True, text=True, env=env)
        named = named or f"error: writing {workdir}/config.json failed: File too large."
        assert run.returncode == 1 and run.stderr.count("\n") == 1 and named in run.stderr, run.stderr[-3000:]
        assert "File too large" in run.stderr
        assert config_json in (None, (workdir / "config.json").read_text())
        config_json = (workdir / "config.json").read_text()
        assert not list(workdir.rglob("*.tmp"))
    finished = subprocess.run(command, capture_output=True, text=True, env=env)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert checkpoint.Checkpointer(str(workdir), read_only=True).latest_step() == 4
