"""nanoGPT's random-batch loss estimate against the mean of the same batches' losses, computed one by one."""

import numpy as np

from lm.data.text import random_windows
from lm.evaluators.estimate import Estimate
from lm.run import prepare
from tests.evaluators.test_by_position import naive_nll


def test_the_estimate_is_the_mean_loss_of_random_eval_batches_fixed_by_seed_and_step(tiny_config, tmp_path):
    tiny_config.train.estimate_batches = 3
    run = prepare(tiny_config, str(tmp_path / "run"))
    c = run.config
    evaluator = Estimate(run.runner, run.objective, run.data, c.data.batch_size, c.data.seq_len, c.seed, 3)
    state = run.runner.put_state(run.state)
    estimate = evaluator.run(state)["loss_estimate"]
    rng = np.random.default_rng([c.seed, 0, 1])  # step 0
    losses = []
    for _ in range(3):
        batch = random_windows(run.data.eval, rng, c.data.batch_size, c.data.seq_len)
        losses.append(naive_nll(run, batch["inputs"], batch["targets"])[0].mean())
    np.testing.assert_allclose(estimate, np.mean(losses), rtol=1e-5)  # nanoGPT's mean of batch means
    assert evaluator.run(state)["loss_estimate"] == estimate  # the same batches at the same step
    later = run.runner.put_state(run.state.replace(step=run.state.step + 1))
    assert evaluator.run(later)["loss_estimate"] != estimate  # other batches at another step
