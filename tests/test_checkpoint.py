"""Orbax checkpoints: a round trip, and a checkpoint that does not fit the model named with its shapes."""

import os

import jax
import numpy as np
import pytest

from lm import checkpoint, train
from lm.run import prepare


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
        checkpoint.Checkpointer(str(tmp_path / "empty"), create=False).restore_params()
