"""pmap and the mesh (data, FSDP, tensor parallel) across 8 fake CPU devices against one device; how weights
shard; batches prefetched to the devices; batch-size and mesh-shape checks; a mesh run resumed under pmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lm import objectives, optim, parallel, step
from tests.test_step import assert_trees_close, batches, make_state, masked_objective, run_steps


def test_eight_fake_devices_are_visible():
    assert jax.local_device_count() == 8


def test_pmap_on_8_devices_equals_one_device_on_the_same_global_batch():
    single, single_metrics = run_steps(1)
    multi, multi_metrics = run_steps(8)
    # Adam divides by sqrt(v): near-zero gradients turn float rounding into ~1e-6 differences.
    assert_trees_close(single.params, multi.params, atol=2e-5)
    # Adam is blind to a gradient's scale; grad_norm is not, so a wrong device average shows here.
    for a, b in zip(single_metrics, multi_metrics, strict=True):
        for key in a:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-5, err_msg=key)
    # and training moved the weights (the comparison is not between two untouched states)
    initial, _ = make_state()
    assert float(jnp.abs(single.params["embed"]["embedding"] - initial.params["embed"]["embedding"]).max()) > 1e-3


def test_pmap_equals_one_device_for_the_masked_objective():
    single, single_metrics = run_steps(1, objective=masked_objective())
    multi, multi_metrics = run_steps(8, objective=masked_objective())
    assert_trees_close(single.params, multi.params, atol=2e-5)
    for a, b in zip(single_metrics, multi_metrics, strict=True):
        for key in a:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-5, err_msg=key)
    assert 0 < single_metrics[0]["tokens"] < 16 * 8  # only the selected positions carry loss


@pytest.mark.parametrize("num_devices", [1, 8])
def test_prefetch_puts_batches_on_the_devices_ahead_and_in_order(num_devices):
    runner = parallel.Runner(num_devices)
    pulled = []

    def batches():
        for s in range(5):
            pulled.append(s)
            yield {"inputs": np.full((8, 3), s, np.int32)}

    fetched = runner.prefetch(batches(), size=2)
    first = next(fetched)
    assert pulled[:3] == [0, 1, 2]  # two more batches already on their way (a thread may read further ahead)
    got = [first, *fetched]
    assert [int(np.asarray(b["inputs"]).flat[0]) for b in got] == [0, 1, 2, 3, 4]
    shards = got[0]["inputs"].addressable_shards
    assert {shard.device for shard in shards} == set(runner.devices)
    expected = (1, 8 // num_devices, 3) if num_devices > 1 else (8, 3)  # each device holds its slice
    assert all(shard.data.shape == expected for shard in shards)


def test_in_background_keeps_the_order_raises_the_threads_error_and_stops_when_closed():
    import threading
    import time

    assert list(parallel.in_background(iter(range(50)), size=3)) == list(range(50))

    def failing():
        yield 1
        raise ValueError("a truncated shard")

    got = parallel.in_background(failing())
    assert next(got) == 1
    with pytest.raises(ValueError, match="a truncated shard"):
        next(got)
    made = []

    def endless():
        while True:
            made.append(len(made))
            yield made[-1]

    items = parallel.in_background(endless(), size=2)
    assert [next(items) for _ in range(3)] == [0, 1, 2]
    items.close()  # a run that stops early
    time.sleep(0.5)
    count = len(made)
    time.sleep(0.3)
    assert len(made) == count <= 3 + 2 + 1  # the thread stopped, at most `size` ahead (and one in hand)
    assert not any(t.name == "lm-batches" and t.is_alive() for t in threading.enumerate())


def test_a_batch_that_does_not_split_over_the_devices_names_the_fix():
    with pytest.raises(
        ValueError, match="data.batch_size=12 does not split evenly over 8 devices.*data_parallel=False"
    ):
        parallel.Runner(8).check_batch_size(12, "data.batch_size")
    parallel.Runner(1).check_batch_size(12, "data.batch_size")


def seq2seq_config(config):
    c = config.copy_and_resolve_references()
    c.objective, c.data.task, c.data.task_examples = "seq2seq", "reverse", 400
    c.data.source_len = c.data.seq_len = 16
    return c


@pytest.mark.parametrize("family", ["encoder_decoder", "gru"])
def test_pmap_and_the_mesh_equal_one_device_for_seq2seq(tiny_config, family):
    from lm.run import compile_train_step, prepare

    trained = {}
    for mode in ("one", "pmap", "mesh"):
        c = seq2seq_config(tiny_config)
        c.model.family = family
        c.train.data_parallel = mode != "one"
        c.parallel.mode, c.parallel.fsdp, c.parallel.tensor = ("mesh", 2, 2) if mode == "mesh" else ("pmap", 1, 1)
        run = prepare(c, None, restore="never")
        fn, state = compile_train_step(run), run.runner.put_state(run.state)
        for s in range(3):
            batch = run.data.train_batch(s, c.seed, c.data.batch_size, c.data.seq_len)
            state, metrics = fn(state, run.runner.put_batch(batch))
        trained[mode] = (run.runner.get_state(state).params, run.runner.get_metrics(metrics))
        assert run.runner.num_devices == (1 if mode == "one" else 8)
    for mode in ("pmap", "mesh"):  # the encoder-decoder's cross-attention shards by the same rules
        assert_trees_close(trained["one"][0], trained[mode][0], atol=2e-5)
        np.testing.assert_allclose(trained["one"][1]["loss"], trained[mode][1]["loss"], rtol=1e-5)


def assert_same_run(a, b, atol=2e-5):
    """Two (state, metrics) runs: the same parameters and the same metrics at every step."""
    assert_trees_close(a[0].params, b[0].params, atol=atol)
    for x, y in zip(a[1], b[1], strict=True):
        for key in x:
            np.testing.assert_allclose(x[key], y[key], rtol=1e-5, err_msg=key)


# The same sums, reduced in another order across devices: equal within float32 rounding (up to ~3e-7 here),
# which Adam's division by sqrt(v) can lift to ~1e-6 on near-zero gradients, hence 2e-5.
@pytest.mark.parametrize(
    "data,fsdp,tensor,accum",
    [(8, 1, 1, 1), (1, 8, 1, 1), (1, 1, 2, 1), (2, 2, 2, 1), (2, 2, 2, 2)],
    ids=["data", "fsdp", "tensor", "data-fsdp-tensor", "accumulated"],
)
def test_the_mesh_equals_one_device_and_pmap(data, fsdp, tensor, accum):
    devices = jax.devices()[: data * fsdp * tensor]
    mesh = run_steps(0, grad_accum_steps=accum, runner=parallel.MeshRunner(data, fsdp, tensor, devices=devices))
    assert_same_run(run_steps(1), mesh)
    assert_same_run(run_steps(8), mesh)


def test_the_mesh_equals_one_device_for_the_masked_objective():
    assert_same_run(run_steps(1, objective=masked_objective()),
                    run_steps(0, objective=masked_objective(), runner=parallel.MeshRunner(2, 2, 2)))  # fmt: skip


def test_rules_split_weights_and_their_optimizer_state_over_fsdp_and_tensor():
    runner = parallel.MeshRunner(2, 2, 2)
    state = runner.put_state(make_state()[0])
    P = jax.P
    expected = {  # MODEL: vocab 17 (odd: the vocabulary stays whole), d_model 16, 2 heads of 8, d_ff 32
        ("block_0", "attention", "query", "kernel"): P("fsdp", "tensor", None),
        ("block_0", "attention", "out", "kernel"): P("tensor", None, "fsdp"),
        ("block_1", "mlp", "up", "kernel"): P("fsdp", "tensor"),
        ("block_1", "mlp", "down", "kernel"): P("tensor", "fsdp"),
        ("embed", "embedding"): P(None, "fsdp"),
        ("final_norm", "norm", "scale"): P(),
    }
    adam = state.opt_state[1][0]  # clip, then AdamW's (mu, nu) state
    for path, spec in expected.items():
        for tree in (state.params, adam.mu, adam.nu):
            leaf = tree
            for key in path:
                leaf = leaf[key]
            assert leaf.sharding.spec == spec, (path, leaf.sharding.spec)
    query = state.params["block_0"]["attention"]["query"]["kernel"]  # [16, 2, 8]: a quarter on each device
    assert {shard.data.shape for shard in query.addressable_shards} == {(8, 1, 8)}
    assert runner.spec("blocks/attention/query/kernel", (4, 16, 2, 8)) == P(None, "fsdp", "tensor", None)  # scanned
    batch = runner.put_batch({"inputs": np.zeros((8, 3), np.int32)})  # rows over data x fsdp, whole over tensor
    assert {shard.data.shape for shard in batch["inputs"].addressable_shards} == {(2, 3)}


def test_a_mesh_that_does_not_fit_the_devices_names_the_fix():
    with pytest.raises(ValueError, match="parallel.data x fsdp x tensor = 3 x 2 x 1 must multiply to the 8 devices"):
        parallel.MeshRunner(3, 2, 1)
    assert parallel.MeshRunner(0, 2, 2).shape == {"data": 2, "fsdp": 2, "tensor": 2}
    with pytest.raises(ValueError, match="data.batch_size=6 does not split evenly over the mesh's 4 batch shards"):
        parallel.MeshRunner(2, 2, 2).check_batch_size(6, "data.batch_size")


def test_a_run_trained_on_a_mesh_resumes_under_pmap_and_on_one_device(tiny_config, tmp_path):
    from lm import train
    from lm.modes import evaluate

    tiny_config.parallel.mode, tiny_config.parallel.fsdp, tiny_config.parallel.tensor = "mesh", 2, 2
    tiny_config.optim.decay_steps = 6  # one schedule for the 4-step run, its resumption to 6 and the 6-step run
    workdir = str(tmp_path / "run")
    final = train.train(tiny_config, workdir)  # 4 steps on a 2 x 2 x 2 mesh, checkpoints at 2 and 4
    single = tiny_config.copy_and_resolve_references()
    single.parallel.mode, single.train.data_parallel = "pmap", False
    assert evaluate.evaluate(single, workdir)["loss"] == pytest.approx(final["eval/loss"], rel=1e-5)
    pmap = tiny_config.copy_and_resolve_references()
    pmap.parallel.mode, pmap.train.num_steps = "pmap", 6
    resumed = train.train(pmap, workdir)  # restores step 4 onto 8 pmap replicas, trains to 6
    mesh = tiny_config.copy_and_resolve_references()
    mesh.train.num_steps = 6
    again = train.train(mesh, str(tmp_path / "straight"))  # the mesh all the way to step 6
    assert resumed["eval/loss"] == pytest.approx(again["eval/loss"], rel=1e-4)


def runner_of(kind):
    """one | pmap (8) | mesh (2 x 2 x 2) | "pmap N" | "mesh N" (data x fsdp 2 on the first N devices)."""
    name, _, n = kind.partition(" ")
    if name == "one":
        return parallel.Runner(1)
    if name == "pmap":
        return parallel.Runner(int(n or 8))
    return parallel.MeshRunner(0, 2, 1, devices=jax.devices()[: int(n)]) if n else parallel.MeshRunner(2, 2, 2)


@pytest.mark.parametrize(
    "save_on,restore_on",
    [("mesh", "one"), ("mesh", "pmap 2"), ("pmap", "mesh 4"), ("one", "mesh"), ("pmap 2", "pmap"), ("mesh 4", "mesh")],
)
def test_a_checkpoint_restores_onto_another_number_of_devices(save_on, restore_on, tmp_path):
    """One step on `save_on`, saved; restored on `restore_on` for a second step: the two steps of one device."""
    from lm import checkpoint

    data = batches(2)
    first = runner_of(save_on)
    state = run_steps(0, data=data[:1], runner=first)[0]  # the state after one step, as the loop saves it
    saver = checkpoint.Checkpointer(str(tmp_path))
    saver.save(state)
    saver.close()
    restored = checkpoint.Checkpointer(str(tmp_path), read_only=True).restore(make_state()[0])
    second = runner_of(restore_on)
    c = make_state()[1]
    fn = second.compile(step.train_step, seed=0, learning_rate=optim.schedule(c.optim), objective=objectives.CAUSAL)
    resumed, _ = fn(second.put_state(restored), second.put_batch(data[1]))
    straight = run_steps(1, data=data)[0]
    assert int(second.get_state(resumed).step) == 2
    assert_trees_close(straight.params, second.get_state(resumed).params, atol=2e-5)


@pytest.mark.parametrize("source", ["built-in corpus", "token shards"])
def test_two_processes_train_as_one_process_with_all_their_devices(tmp_path, source):
    """jax.distributed on 127.0.0.1: 2 processes x 4 CPU devices give the loss trajectory of 1 process x 8, each
    process reading only its own rows of every batch (of token shards: from their files)."""
    import json
    import os
    import socket
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    args = [sys.executable, os.path.join(root, "launch.py"), f"--config={root}/experiments/default.py:smoke",
            "--config.parallel.mode=mesh", "--config.parallel.fsdp=2", "--config.train.log_every=1",
            "--config.train.num_steps=6", "--config.train.checkpoint_every=3"]  # fmt: skip
    if source == "token shards":
        from lm.config import default_config
        from lm.data import prepare

        texts = [f"the cat number {i} sat on the mat with dog {i % 7}" for i in range(300)]
        (tmp_path / "c.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
        data = default_config().data
        data.path, data.tokenizer, data.val_fraction = str(tmp_path / "c.jsonl"), "byte", 0.1
        prepare.prepare(data, str(tmp_path / "shards"), None, num_workers=1)
        args.append(f"--config.data.shards={tmp_path / 'shards'}")

    def env(devices):
        return dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")

    with socket.socket() as s:  # a free port for the coordinator
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    two = str(tmp_path / "two")
    processes = [
        subprocess.Popen([*args, f"--workdir={two}", f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2",
                          f"--process_id={i}"], env=env(4), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]  # fmt: skip
    outputs = [p.communicate(timeout=600) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs[0][1][-2000:] + outputs[1][1][-2000:]
    one = str(tmp_path / "one")
    single = subprocess.run([*args, f"--workdir={one}"], env=env(8), capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr

    def losses(workdir):
        with open(os.path.join(workdir, "metrics.jsonl")) as f:
            records = [json.loads(line) for line in f]
        return [(r["step"], r.get("train/loss", r.get("eval/loss"))) for r in records]

    assert [s for s, _ in losses(two)] == [1, 2, 3, 4, 5, 6, 6]  # process 0 alone writes metrics.jsonl
    np.testing.assert_allclose([v for _, v in losses(two)], [v for _, v in losses(one)], rtol=1e-5)
    assert "step      6/6" in outputs[0][0] and "step " not in outputs[1][0]  # and alone prints
    assert sorted(os.listdir(os.path.join(two, "checkpoints"))) == ["3", "6"]  # written by both, together

    # the two processes' checkpoint resumes on one process as the one-process run's does
    resumed = [subprocess.run([*args[:-2], "--config.train.num_steps=8", f"--workdir={w}"], env=env(8),
                              capture_output=True, text=True, timeout=600) for w in (two, one)]  # fmt: skip
    assert [r.returncode for r in resumed] == [0, 0] and "resuming from the checkpoint at step 6" in resumed[0].stdout
    np.testing.assert_allclose([v for _, v in losses(two)], [v for _, v in losses(one)], rtol=1e-5)


def test_distributed_flags_name_what_is_missing_and_pmap_is_refused_across_processes(tiny_config, monkeypatch):
    with pytest.raises(ValueError, match="are set but not --process_id"):  # checked before anything starts
        parallel.initialize_distributed("127.0.0.1:1234", 2, None, auto=False)
    parallel.initialize_distributed(None, None, None, auto=False)  # one process: nothing to do
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    with pytest.raises(ValueError, match="parallel.mode=pmap runs on one process; this run has 2.*mode=mesh"):
        parallel.for_config(tiny_config)
    tiny_config.parallel.mode = "mesh"
    assert isinstance(parallel.for_config(tiny_config), parallel.MeshRunner)


def test_the_mesh_equals_one_device_with_scanned_rematerialised_layers(monkeypatch):
    import dataclasses

    from tests import test_step

    monkeypatch.setattr(test_step, "MODEL", dataclasses.replace(test_step.MODEL, scan_layers=True, remat="full"))
    mesh = run_steps(0, runner=parallel.MeshRunner(2, 2, 2))
    assert_same_run(run_steps(1), mesh)
    assert mesh[0].params["blocks"]["attention"]["query"]["kernel"].shape[0] == 2  # stacked layers
