"""The shared eval loop: the same sums on 8 devices as on one, and one compilation for every eval."""

import numpy as np

from lm import parallel
from lm.evaluators.perplexity import Perplexity
from lm.run import prepare


def test_eight_devices_sum_what_one_device_sums_and_the_step_compiles_once(tiny_config, tmp_path):
    run = prepare(tiny_config, str(tmp_path / "run"))
    c = run.config
    results = {}
    for devices in (1, 8):
        runner = parallel.Runner(devices)
        evaluator = Perplexity(runner, run.objective, run.data, c.train.eval_batch_size, c.data.seq_len, c.seed)
        state = runner.put_state(run.state)
        results[devices] = evaluator.run(state)
        again = evaluator.run(state)
        assert again == results[devices]
        if devices == 1:
            assert evaluator._step._cache_size() == 1  # built once, reused by every eval
    for key, value in results[1].items():
        np.testing.assert_allclose(results[8][key], value, rtol=1e-5, err_msg=key)
