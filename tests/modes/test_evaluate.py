"""--mode=eval (lm/modes/evaluate.py): the checkpoint's eval metrics, printed and returned."""

import pytest

from lm import train
from lm.modes import evaluate


def test_eval_reports_what_training_reported_at_its_last_step(tiny_config, workdir, capsys):
    trained = train.train(tiny_config, workdir)  # already at the last step: evaluates the checkpoint again
    capsys.readouterr()
    results = evaluate.evaluate(tiny_config, workdir)
    out = capsys.readouterr().out
    assert "eval of the checkpoint at step 4:" in out and "optimal loss (the generator's own)" in out
    assert {f"eval/{k}": v for k, v in results.items()} == pytest.approx(trained)
