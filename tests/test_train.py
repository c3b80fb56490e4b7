"""The training loop end to end: resume equals an uninterrupted run; what a run leaves in its workdir."""

import json
import os
import random
import re
import signal
import subprocess
import time

import jax
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lm import checkpoint, metrics, train
from lm.modes import evaluate
from lm.run import prepare
from tests import launcher


def records(workdir, prefix):
    return [r for r in metrics.read(workdir) if any(k.startswith(prefix) for k in r)]


def tensorboard_points(workdir) -> dict:
    """{tag: [(step, value)]} as TensorBoard reads WORKDIR/tensorboard (restart markers applied)."""
    accumulator = EventAccumulator(os.path.join(str(workdir), "tensorboard"))
    accumulator.Reload()
    return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}


def logged_points(workdir) -> dict:
    """The same, from metrics.jsonl (scalars only, as float32 as TensorBoard stores them)."""
    points = {}
    for record in metrics.read(str(workdir)):
        for tag, value in record.items():
            if tag != "step" and not isinstance(value, list):
                points.setdefault(tag, []).append((record["step"], float(np.float32(value))))
    return points


def assert_tensorboard_holds_every_logged_point(workdir):
    logged = logged_points(workdir)
    assert any(tag.startswith("eval/") for tag in logged) and any(tag.startswith("train/") for tag in logged)
    assert tensorboard_points(workdir) == logged


@pytest.mark.parametrize("objective", ["causal", "seq2seq"])
def test_run_of_2n_steps_equals_n_steps_stopped_and_resumed(objective, tiny_config, tmp_path):
    if objective == "seq2seq":
        tiny_config.objective, tiny_config.data.task, tiny_config.data.task_examples = "seq2seq", "reverse", 400
        tiny_config.data.source_len = tiny_config.data.seq_len = 16
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
    files = {"config.json", "metrics.jsonl", "lm_tokenizer.json", "checkpoints", "tensorboard"}
    assert set(os.listdir(workdir)) >= files
    with open(os.path.join(workdir, "config.json")) as f:
        saved = json.load(f)
    assert saved["model"]["num_layers"] == 2 and saved["model"]["vocab_size"] > 0  # resolved values
    assert checkpoint.Checkpointer(workdir, read_only=True).latest_step() == 4
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


def checkpoint_params(workdir):
    ckpt = checkpoint.Checkpointer(str(workdir), read_only=True)
    return {step: ckpt.restore_params(step) for step in ckpt._manager.all_steps()}


def test_a_diverging_resume_stops_and_keeps_every_finite_checkpoint(tiny_config, tmp_path):
    workdir = tmp_path / "run"
    train.train(tiny_config, str(workdir))  # a good run: checkpoints 2 and 4
    good = checkpoint_params(workdir)
    diverging = tiny_config.copy_and_resolve_references()
    diverging.train.num_steps, diverging.train.checkpoint_every = 12, 1
    diverging.optim.learning_rate, diverging.optim.warmup_steps = 1e30, 0
    with pytest.raises(train.Diverged, match=r"Step (\d+) had a non-finite loss .* the last checkpoint is step \d+"):
        train.train(diverging, str(workdir))
    saved = checkpoint_params(workdir)
    assert all(np.isfinite(x).all() for params in saved.values() for x in jax.tree.leaves(params))
    assert max(saved) < 12 and set(good) <= set(saved) | {s for s in good if s < min(saved)}
    for step in set(good) & set(saved):
        jax.tree.map(np.testing.assert_array_equal, saved[step], good[step])
    logged = [r["step"] for r in metrics.read(str(workdir)) if "train/loss" in r]
    assert logged == sorted(set(logged))  # no step logged twice


def test_skip_mode_trains_through_non_finite_steps_and_counts_them(tiny_config, tmp_path):
    tiny_config.optim.learning_rate, tiny_config.optim.warmup_steps = 1e30, 0
    tiny_config.train.nonfinite = "skip"
    tiny_config.train.num_steps = 8
    train.train(tiny_config, str(tmp_path / "run"))
    skipped = [r["train/skipped"] for r in metrics.read(str(tmp_path / "run")) if "train/skipped" in r]
    assert sum(skipped) > 0
    params = prepare(tiny_config, str(tmp_path / "run"), restore="required").state.params
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(params))


def good_then_diverging(tiny_config, workdir: str, **diverging_train):
    """8 good steps evaluated and saved every 2 (one latest checkpoint kept), then a learning rate of 10 from
    there: a divergence that stays finite. Returns the diverging config and the good run's eval losses."""
    good = tiny_config.copy_and_resolve_references()
    good.train.num_steps, good.train.eval_every, good.train.keep_checkpoints = 8, 2, 1
    train.train(good, workdir)
    losses = {r["step"]: r["eval/loss"] for r in metrics.read(workdir) if "eval/loss" in r}
    diverging = good.copy_and_resolve_references()
    diverging.optim.learning_rate, diverging.optim.warmup_steps, diverging.train.num_steps = 10.0, 0, 20
    diverging.train.update(diverging_train)
    return diverging, losses


def evaluated(config, workdir: str, restore: str) -> dict:
    config = config.copy_and_resolve_references()
    config.train.restore = restore
    return evaluate.evaluate(config, workdir)


def test_a_finite_divergence_keeps_the_best_checkpoint_and_says_the_run_ended_worse(tiny_config, tmp_path, capsys):
    workdir = str(tmp_path / "run")
    diverging, good = good_then_diverging(tiny_config, workdir, spike_factor=0.0)  # no spike check
    train.train(diverging, workdir)
    final = [r["eval/loss"] for r in metrics.read(workdir) if "eval/loss" in r][-1]
    best = min(good, key=good.get)
    assert np.isfinite(final) and final > 2 * good[best]  # it diverged, finitely
    assert sorted(checkpoint.Checkpointer(workdir, read_only=True)._manager.all_steps()) == [best, 20]
    assert f"worse than its best checkpoint, step {best}" in capsys.readouterr().out
    assert evaluated(diverging, workdir, "best")["loss"] == pytest.approx(good[best], rel=1e-5)
    assert evaluated(diverging, workdir, "latest")["loss"] == pytest.approx(final, rel=1e-5)
    # training on from the best checkpoint rolls the later ones back, out of the way
    diverging.train.restore, diverging.optim.learning_rate = "best", 1e-3
    train.train(diverging, workdir)
    assert os.listdir(os.path.join(workdir, checkpoint.ROLLED_BACK))[0].startswith("20-")
    steps = [r["step"] for r in metrics.read(workdir) if "train/loss" in r]
    assert steps == sorted(set(steps)) and steps[-1] == 20  # the diverged records were dropped, then rewritten


def test_a_loss_spike_stops_the_run_before_it_saves_the_spike(tiny_config, tmp_path):
    workdir = str(tmp_path / "run")
    diverging, good = good_then_diverging(tiny_config, workdir)  # spike_factor: 4 by default
    with pytest.raises(
        train.Diverged, match=r"logged at step 10, .* is [\d.]+x the median .* the last checkpoint is step 8"
    ):
        train.train(diverging, workdir)
    assert checkpoint.Checkpointer(workdir, read_only=True).latest_step() == 8
    assert evaluated(diverging, workdir, "best")["loss"] == pytest.approx(min(good.values()), rel=1e-5)


def test_skipping_stops_after_max_skipped_steps_in_a_row(tiny_config, tmp_path):
    workdir = str(tmp_path / "run")
    diverging, good = good_then_diverging(tiny_config, workdir, nonfinite="skip", max_skipped=3)
    diverging.optim.learning_rate = 1e30  # every step's gradient update is non-finite: all skipped
    with pytest.raises(train.Diverged, match=r"Steps \d+ to \d+ were all skipped"):
        train.train(diverging, workdir)
    assert evaluated(diverging, workdir, "best")["loss"] == pytest.approx(min(good.values()), rel=1e-5)


def test_a_resume_drops_what_was_logged_after_its_checkpoint(tiny_config, tmp_path):
    tiny_config.train.num_steps, tiny_config.train.log_every, tiny_config.train.checkpoint_every = 6, 1, 4
    workdir = str(tmp_path / "run")
    train.train(tiny_config, workdir)
    ckpt = checkpoint.Checkpointer(workdir)
    ckpt._manager.delete(6)  # as if the run had been killed after logging step 6 but before its save
    ckpt.close()
    train.train(tiny_config, workdir)
    steps = [r["step"] for r in metrics.read(workdir) if "train/loss" in r]
    assert steps == [1, 2, 3, 4, 5, 6]
    assert_tensorboard_holds_every_logged_point(workdir)  # step 4 (the checkpoint's) kept, 5 and 6 once


def test_rerunning_a_finished_workdir_keeps_every_tensorboard_point(tiny_config, tmp_path):
    workdir = str(tmp_path / "run")
    train.train(tiny_config, workdir)
    before = tensorboard_points(workdir)
    train.train(tiny_config, workdir)  # finished: evaluates and samples, trains nothing
    assert tensorboard_points(workdir) == before
    assert_tensorboard_holds_every_logged_point(workdir)


def test_a_second_run_on_a_workdir_in_use_is_refused(tiny_config, tmp_path):
    from lm import workdir_files

    workdir = tmp_path / "run"
    workdir.mkdir()
    held = workdir_files.Lock(str(workdir))
    held.acquire()
    try:
        with pytest.raises(ValueError, match=rf"in use by a training run \(process {os.getpid()} on "):
            train.train(tiny_config, str(workdir))
        assert sorted(os.listdir(workdir)) == ["lock"]
    finally:
        held.release()
    train.train(tiny_config, str(workdir))  # released: the next run takes it


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLOW_ENOUGH = [  # about 5 ms a step on 2 cores: long enough to be signalled mid-run
    f"--config={ROOT}/experiments/default.py:smoke",
    "--config.model.size=tiny",
    "--config.data.seq_len=64",
    "--config.data.batch_size=16",
    "--config.train.num_steps=600",
    "--config.train.log_every=10",
    "--config.train.eval_every=200",
    "--config.train.checkpoint_every=100",
]


def start(workdir, *args):
    """launch.py training in its own process (one device, as a user runs it), stdout piped."""
    command = launcher.command(*SLOW_ENOUGH, f"--workdir={workdir}", *args)
    env = dict(os.environ, XLA_FLAGS="")
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for_step(process, step: int) -> None:
    """Reads the progress lines until one reports `step` or later."""
    for line in process.stdout:
        found = re.match(r"step\s+(\d+)/", line)
        if found and int(found.group(1)) >= step:
            return
    raise AssertionError(f"the run ended before step {step}: {process.stderr.read()[-2000:]}")


def final(workdir):
    ckpt = checkpoint.Checkpointer(str(workdir), read_only=True)
    return ckpt.latest_step(), ckpt.restore_params()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("straight") / "run"
    process = start(workdir)
    assert process.wait(timeout=600) == 0, process.stderr.read()
    return workdir


def assert_same_run(workdir, reference):
    (step, params), (reference_step, reference_params) = final(workdir), final(reference)
    assert step == reference_step == 600
    jax.tree.map(np.testing.assert_array_equal, params, reference_params)  # bitwise
    # record for record: the steps a stopped run had not logged came back with its checkpoint
    assert metrics.read(str(workdir)) == metrics.read(str(reference))
    assert_tensorboard_holds_every_logged_point(workdir)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signalled_run_saves_the_step_it_reached_and_resumes_as_if_uninterrupted(signum, uninterrupted, tmp_path):
    workdir = tmp_path / "run"
    process = start(workdir)
    try:
        wait_for_step(process, 120)
        process.send_signal(signum)
        assert process.wait(timeout=120) == 128 + signum
    finally:
        process.kill()
    message = process.stderr.read()
    reached = int(re.search(r"stopped after step (\d+), whose checkpoint is saved", message).group(1))
    assert "Traceback" not in message and 120 <= reached < 600
    assert final(workdir)[0] == reached
    resumed = start(workdir)
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()
    assert f"resuming from the checkpoint at step {reached}" in resumed.stdout.read()
    assert_same_run(workdir, uninterrupted)


def test_a_run_killed_at_a_random_moment_resumes_from_its_last_checkpoint_as_if_uninterrupted(uninterrupted, tmp_path):
    workdir = tmp_path / "run"
    process = start(workdir, "--config.train.checkpoint_every=7")  # saves often: the kill may land in one
    try:
        wait_for_step(process, 100)
        time.sleep(random.Random(os.getpid()).uniform(0.0, 0.5))
        process.kill()
        process.wait(timeout=60)
    finally:
        process.kill()
    resumed = start(workdir)
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()
    assert_same_run(workdir, uninterrupted)


def test_the_lock_refuses_a_second_run_and_a_killed_run_does_not_leave_it_stuck(tmp_path):
    workdir = tmp_path / "run"
    first = start(workdir, "--config.train.num_steps=100000")
    try:
        wait_for_step(first, 110)
        second = start(workdir, "--config.train.num_steps=100000")
        assert second.wait(timeout=120) == 1
        assert f"is in use by a training run (process {first.pid} on" in second.stderr.read()
        first.kill()
        first.wait(timeout=60)
    finally:
        first.kill()
    third = start(workdir, "--config.train.num_steps=100")  # at its last step already: evaluates, samples
    assert third.wait(timeout=300) == 0, third.stderr.read()
