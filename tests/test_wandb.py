"""config.log.wandb: a run's config and every scalar of metrics.jsonl on Weights & Biases, at their steps, and a
resumed run continuing the same W&B run. Tested in W&B's offline mode (no network, no account): the .wandb
files the run writes into WORKDIR/wandb, read back by tests/wandb_file.py."""

import os

import pytest

from lm import metrics, train
from tests import wandb_file

pytest.importorskip("wandb")


def wandb_config(tiny_config, **fields):
    tiny_config.log.wandb, tiny_config.log.wandb_mode = True, "offline"
    tiny_config.train.log_every, tiny_config.train.eval_every = 1, 2
    for key, value in fields.items():
        tiny_config.log[key] = value
    return tiny_config


def test_a_run_logs_its_config_and_every_scalar_and_a_resumed_run_continues_it(tiny_config, tmp_path):
    workdir = str(tmp_path / "run")
    config = wandb_config(tiny_config, wandb_project="ablations", wandb_entity="team")
    train.train(config, workdir)
    (first,) = wandb_file.runs(workdir)
    assert (first["project"], first["entity"], first["name"]) == ("ablations", "team", "run")  # the workdir's name
    assert first["config"]["optim.learning_rate"] == config.optim.learning_rate
    assert first["config"]["model.d_model"] == 32 and first["config"]["log.wandb_mode"] == "offline"
    logged = [{k: v for k, v in r.items() if not isinstance(v, list)} for r in metrics.read(workdir)]
    assert len(logged) == 6 and any("eval/loss" in r for r in logged)  # train/ at steps 1-4, eval/ at 2 and 4
    assert _by_step(first["history"]) == _by_step(logged)  # the same numbers, exactly

    config.train.num_steps = 6  # the same command, trained on: the same W&B run, steps 5 and 6 added
    train.train(config, workdir)
    first, second = wandb_file.runs(workdir)
    assert second["id"] == first["id"] and sorted(_by_step(second["history"])) == [5, 6]
    assert _by_step(second["history"]) == _by_step(metrics.read(workdir)[len(logged) :])
    with open(os.path.join(workdir, "wandb", metrics.WANDB_ID_FILE)) as f:
        assert f.read() == first["id"]  # the id the workdir keeps is the run's


def test_online_without_a_usable_api_key_is_refused_before_anything_is_written(tiny_config, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "no_settings"))  # no key saved by `wandb login`
    monkeypatch.setenv("NETRC", str(tmp_path / "no_netrc"))
    config = wandb_config(tiny_config, wandb_mode="online")
    with pytest.raises(ValueError, match=r"needs a W&B API key .*wandb_mode=offline"):
        train.train(config, str(tmp_path / "run"))
    monkeypatch.setenv("WANDB_API_KEY", "short")  # malformed: W&B's AuthenticationError, also one paragraph
    with pytest.raises(ValueError, match=r"needs a W&B API key .*wandb_mode=offline"):
        train.train(config, str(tmp_path / "run"))
    assert not os.path.exists(tmp_path / "run")


def _by_step(points: list[dict]) -> dict[int, dict]:
    merged = {}
    for point in points:
        merged.setdefault(point["step"], {}).update({k: v for k, v in point.items() if k != "step"})
    return merged
