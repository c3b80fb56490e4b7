"""The training loop end to end: resume equals an uninterrupted run, checkpoints, the workdir."""

import json
import os

import jax
import numpy as np
import pytest

from lm import checkpoint, metrics, train
from lm.run import prepare


def records(workdir, prefix):
    return [r for r in metrics.read(workdir) if any(k.startswith(prefix) for k in r)]


def test_run_of_2n_steps_equals_n_steps_stopped_and_resumed(tiny_config, tmp_path):
    tiny_config.train.num_steps = 4
    tiny_config.train.eval_every = 2
    straight = str(tmp_path / "straight")
    train.train(tiny_config, straight)

    resumed = str(tmp_path / "resumed")
    first_half = tiny_config.copy_and_resolve_references()
    first_half.train.num_steps = 2
    train.train(first_half, resumed)
    train.train(tiny_config, resumed)  # the same command again continues from step 2

    a = prepare(tiny_config, straight, restore="required").state
    b = prepare(tiny_config, resumed, restore="required").state
    assert int(a.step) == int(b.step) == 4
    for x, y in zip(jax.tree.leaves((a.params, a.opt_state)), jax.tree.leaves((b.params, b.opt_state)), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    for prefix in ("train/", "eval/"):
        assert records(straight, prefix) == records(resumed, prefix)


def test_workdir_holds_config_metrics_tokenizer_checkpoints_and_tensorboard(tiny_config, tmp_path, capsys):
    workdir = str(tmp_path / "run")
    final = train.train(tiny_config, workdir)
    assert set(os.listdir(workdir)) >= {"config.json", "metrics.jsonl", "tokenizer.json", "checkpoints", "tensorboard"}
    with open(os.path.join(workdir, "config.json")) as f:
        saved = json.load(f)
    assert saved["model"]["num_layers"] == 2 and saved["model"]["vocab_size"] > 0  # resolved values
    assert checkpoint.Checkpointer(workdir).latest_step() == 4
    assert os.listdir(os.path.join(workdir, "tensorboard"))[0].startswith("events.out.tfevents")
    logged = metrics.read(workdir)
    assert [r["step"] for r in logged if "train/loss" in r] == [2, 4]
    assert {"eval/loss", "eval/perplexity", "eval/accuracy", "eval/bits_per_byte"} <= set(final)
    np.testing.assert_allclose(final["eval/perplexity"], np.exp(final["eval/loss"]), rtol=1e-6)
    out = capsys.readouterr().out
    assert "parameters" in out and "steps/s" in out and "tok/s" in out and "ETA" in out
    assert out.count("--- sample") == tiny_config.sample.num_samples


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


def snapshot(workdir):
    """Every file's size and modification time."""
    out = {}
    for root, _, files in os.walk(workdir):
        for f in files:
            st = os.stat(os.path.join(root, f))
            out[os.path.join(root, f)] = (st.st_size, st.st_mtime_ns)
    return out


def test_workdir_of_another_model_is_refused_and_left_intact(tiny_config, tmp_path):
    workdir = str(tmp_path / "run")
    train.train(tiny_config, workdir)
    before = snapshot(workdir)
    other = tiny_config.copy_and_resolve_references()
    other.model.d_model = 64
    with pytest.raises(ValueError, match="different model.*d_model: 32 in the workdir, 64 now"):
        train.train(other, workdir)
    assert snapshot(workdir) == before
    # how the step computes may change on resume: remat and the attention implementation
    resumed = tiny_config.copy_and_resolve_references()
    resumed.model.remat, resumed.model.attention = "full", "xla"
    resumed.train.num_steps += 2
    assert np.isfinite(train.train(resumed, workdir)["eval/loss"])


def test_checkpoint_that_does_not_fit_the_model_is_a_clear_error(tiny_config, tmp_path):
    workdir = str(tmp_path / "run")
    train.train(tiny_config, workdir)
    os.remove(os.path.join(workdir, "config.json"))  # only the checkpoint itself can tell now
    other = tiny_config.copy_and_resolve_references()
    other.model.d_ff = 64
    with pytest.raises(ValueError, match=r"does not match the configured model.*\(32, 64\)"):
        prepare(other, workdir)


def test_eval_and_sample_need_a_checkpoint(tiny_config, tmp_path):
    with pytest.raises(ValueError, match="No checkpoint"):
        prepare(tiny_config, str(tmp_path / "empty"), restore="required")
    assert not os.path.exists(tmp_path / "empty")
