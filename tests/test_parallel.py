"""pmap across 8 fake CPU devices against one device; batches prefetched to the devices; batch-size checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lm import parallel
from tests.test_step import assert_trees_close, make_state, masked_objective, run_steps


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
    assert pulled == [0, 1, 2]  # two more batches already on their way to the devices
    got = [first, *fetched]
    assert [int(np.asarray(b["inputs"]).flat[0]) for b in got] == [0, 1, 2, 3, 4]
    shards = got[0]["inputs"].addressable_shards
    assert {shard.device for shard in shards} == set(runner.devices)
    expected = (1, 8 // num_devices, 3) if num_devices > 1 else (8, 3)  # each device holds its slice
    assert all(shard.data.shape == expected for shard in shards)


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


def test_pmap_equals_one_device_for_seq2seq(tiny_config):
    from lm.run import compile_train_step, prepare

    trained = {}
    for data_parallel in (False, True):
        c = seq2seq_config(tiny_config)
        c.train.data_parallel = data_parallel
        run = prepare(c, None, restore="never")
        fn, state = compile_train_step(run), run.runner.put_state(run.state)
        for s in range(3):
            batch = run.data.train_batch(s, c.seed, c.data.batch_size, c.data.seq_len)
            state, metrics = fn(state, run.runner.put_batch(batch))
        trained[data_parallel] = (run.runner.get_state(state).params, run.runner.get_metrics(metrics))
    assert run.runner.num_devices == 8
    assert_trees_close(trained[False][0], trained[True][0], atol=2e-5)
    np.testing.assert_allclose(trained[False][1]["loss"], trained[True][1]["loss"], rtol=1e-5)
