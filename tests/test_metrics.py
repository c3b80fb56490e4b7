"""Metrics out: metrics.jsonl and TensorBoard event files hold the same scalars; the progress line."""

import glob
import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from lm import metrics


def test_scalars_go_to_metrics_jsonl_and_tensorboard(tmp_path):
    writer = metrics.MetricsWriter(str(tmp_path))
    writer.write(10, {"train/loss": 2.5, "train/accuracy": 0.25})
    writer.write(20, {"eval/loss": 2.0, "eval/loss_by_position": [3.0, 1.5]})  # a curve: metrics.jsonl only
    writer.close()
    assert metrics.read(str(tmp_path)) == [
        {"step": 10, "train/loss": 2.5, "train/accuracy": 0.25},
        {"step": 20, "eval/loss": 2.0, "eval/loss_by_position": [3.0, 1.5]},
    ]
    assert [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [10, 20]
    (events,) = glob.glob(str(tmp_path / "tensorboard" / "events.out.tfevents.*"))
    accumulator = EventAccumulator(events)
    accumulator.Reload()
    assert [(e.step, e.value) for e in accumulator.Scalars("train/loss")] == [(10, 2.5)]
    assert [(e.step, e.value) for e in accumulator.Scalars("eval/loss")] == [(20, 2.0)]
    assert "eval/loss_by_position" not in accumulator.Tags()["scalars"]
    assert metrics.read(str(tmp_path / "nowhere")) == []


def test_a_line_cut_short_is_left_out_and_a_damaged_one_named(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 2, "train/loss": 1.5}\n{"step": 4, "train/lo')  # killed while writing step 4
    assert metrics.read(str(tmp_path)) == [{"step": 2, "train/loss": 1.5}]
    writer = metrics.MetricsWriter(str(tmp_path), start=2)  # the resumed run: the cut line goes
    writer.write(4, {"train/loss": 1.25})
    writer.close()
    assert metrics.read(str(tmp_path)) == [{"step": 2, "train/loss": 1.5}, {"step": 4, "train/loss": 1.25}]
    path.write_text('{"step": 2}\n[1, 2]\n{"step": 4}\n')
    with pytest.raises(ValueError, match=r"metrics.jsonl, line 2, is not a metrics record"):
        metrics.read(str(tmp_path))


def test_the_config_goes_to_tensorboard_as_the_runs_hyperparameters(tmp_path):
    config = {"model": {"num_layers": 2, "positions": "rope", "window": None}, "dims": (4, 8), "bf16": True}
    flat = metrics.hyperparameters(config)
    assert flat == {
        "model.num_layers": 2,
        "model.positions": "rope",
        "model.window": "None",
        "dims": "(4, 8)",
        "bf16": True,
    }
    writer = metrics.MetricsWriter(str(tmp_path), hparams=flat)
    writer.write(1, {"train/loss": 2.5})
    writer.close()
    # What TensorBoard's HParams tab reads: the session's start, in the run's own directory (where its scalars are).
    accumulator = EventAccumulator(str(tmp_path / "tensorboard"))
    accumulator.Reload()
    content = accumulator.PluginTagToContent("hparams")
    assert list(content) == ["_hparams_/session_start_info"]  # no fixed metric list: every scalar tag is one
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    values = {k: getattr(v, v.WhichOneof("kind")) for k, v in start.hparams.items()}
    assert values == {
        "model.num_layers": 2.0,
        "model.positions": "rope",
        "model.window": "None",
        "dims": "(4, 8)",
        "bf16": True,
    }
    assert [(e.step, e.value) for e in accumulator.Scalars("train/loss")] == [(1, 2.5)]


def test_the_progress_line_reports_rates_and_the_time_left(monkeypatch):
    clock = iter([100.0, 110.0])  # 10 s for 50 steps
    monkeypatch.setattr(metrics.time, "perf_counter", lambda: next(clock))
    progress = metrics.Progress(first_step=0, last_step=500, tokens_per_step=1000)
    line = progress.line(50, {"loss": 1.23456, "learning_rate": 3e-4})
    assert line == "step     50/500 | loss 1.2346 | lr 3.00e-04 |   5.00 steps/s |     5.0k tok/s | ETA 1m30s"
