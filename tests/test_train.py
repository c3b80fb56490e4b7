"""The training loop end to end: resume equals an uninterrupted run; what a run leaves in its workdir."""

import json
import os

import jax
import numpy as np

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


def test_labelled_runs_keep_their_label_names_and_a_relaunch_keeps_their_order(tiny_config, tmp_path):
    tiny_config.objective = "classify"
    rows = "".join(f"{'cat dog owl pig'[i % 5 :]},{'zebra' if i % 3 else 'ant'}\n" for i in range(30))
    (tmp_path / "labels.csv").write_text("text,label\n" + rows)
    tiny_config.data.path = str(tmp_path / "labels.csv")
    workdir = tmp_path / "run"
    train.train(tiny_config, str(workdir))
    assert json.loads((workdir / "labels.json").read_text()) == ["ant", "zebra"]
    assert not (workdir / "data_cache").exists()  # labelled data is not cached
    (workdir / "labels.json").write_text(json.dumps(["zebra", "ant"]))  # the order the classifier was trained in
    assert prepare(tiny_config, str(workdir), restore="required").data.label_names == ["zebra", "ant"]
