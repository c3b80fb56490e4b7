"""Collation of hand-made sweep workdirs: means and sample standard deviations per row, the columns that
differ, failures listed, the CSV, the PNG; comparing two runs."""

import csv
import json

import numpy as np
import pytest

from lm import collate

# (overrides, eval/loss at steps 10 and 20, eval/accuracy at 20)
RUNS = [
    ({"model.position": "learned", "data.batch_size": 8, "seed": 0}, [3.0, 2.0], 0.50),
    ({"model.position": "learned", "data.batch_size": 8, "seed": 1}, [3.2, 2.4], 0.40),
    ({"model.position": "learned", "data.batch_size": 8, "seed": 2}, [2.9, 2.2], 0.45),
    ({"model.position": "rotary", "data.batch_size": 8, "seed": 0}, [2.5, 1.9], 0.60),
    ({"model.position": "rotary", "data.batch_size": 8, "seed": 1}, [2.0, 2.1], 0.55),  # its best is not its last
]


def make_sweep(root):
    for i, (overrides, losses, accuracy) in enumerate(RUNS):
        name = ",".join(f"{k}={v}" for k, v in overrides.items())
        (root / name).mkdir(parents=True)
        status = {"index": i, "name": name, "overrides": overrides, "status": "done", "parameters": 1000,
                  "tokens_seen": 640, "wall_seconds": 10.0 + i, "steps_per_second": 2.0}  # fmt: skip
        (root / name / "sweep.json").write_text(json.dumps(status))
        records = [
            {"step": 10, "train/loss": 3.5},
            {"step": 10, "eval/loss": losses[0]},
            {"step": 20, "train/loss": 2.5},
            {"step": 20, "eval/loss": losses[1], "eval/accuracy": accuracy},
        ]
        (root / name / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    failed = {"index": 5, "name": "model.position=alibi,seed=0", "overrides": {"model.position": "alibi", "seed": 0},
              "status": "failed", "error": "ValueError: model.position='alibi'"}  # fmt: skip
    (root / failed["name"]).mkdir()
    (root / failed["name"] / "sweep.json").write_text(json.dumps(failed))


def test_rows_are_means_and_sample_stds_over_seeds_with_only_the_differing_columns(tmp_path):
    make_sweep(tmp_path)
    rows = collate.collate(str(tmp_path), metric="eval/accuracy")
    assert [(r["model.position"], r["n"]) for r in rows] == [("learned", 3), ("rotary", 2)]
    assert "data.batch_size" not in rows[0]  # the same in every variant
    learned, rotary = rows
    assert learned["final eval/loss"] == pytest.approx(2.2)
    assert learned["final eval/loss std"] == pytest.approx(0.2)  # (2.0, 2.4, 2.2): sample sd 0.2
    assert rotary["final eval/loss"] == pytest.approx(2.0)
    assert rotary["best eval/loss"] == pytest.approx((1.9 + 2.0) / 2)  # rotary seed 1 was best at step 10
    assert rotary["best eval/loss std"] == pytest.approx(np.std([1.9, 2.0], ddof=1))
    assert learned["final eval/accuracy"] == pytest.approx(0.45) and learned["best eval/accuracy"] == pytest.approx(
        0.45
    )
    assert learned["wall_seconds"] == pytest.approx(11.0) and rotary["parameters"] == 1000

    with open(tmp_path / "results.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["model.position"] for r in table] == ["learned", "rotary"]
    assert float(table[0]["final eval/loss std"]) == pytest.approx(0.2)
    text = (tmp_path / "results.md").read_text()
    assert "| model.position | n | final eval/loss | best eval/loss | final eval/accuracy |" in text
    assert "| learned | 3 | 2.2000 ± 0.2000 |" in text
    assert "- model.position=alibi,seed=0: ValueError: model.position='alibi'" in text
    png = (tmp_path / "curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_a_metric_no_run_logged_is_a_clear_error(tmp_path):
    make_sweep(tmp_path)
    with pytest.raises(ValueError, match="eval/bleu is not in the metrics.jsonl of"):
        collate.collate(str(tmp_path), metric="eval/bleu")
    with pytest.raises(ValueError, match="holds no variant of a sweep"):
        collate.collate(str(tmp_path / "model.position=alibi,seed=0"))


def test_compare_sets_the_config_difference_beside_the_metric_difference(tmp_path):
    for name, lr, loss in (("a", 0.001, 2.5), ("b", 0.002, 2.25)):
        (tmp_path / name).mkdir()
        config = {"seed": 0, "optim": {"learning_rate": lr, "b1": 0.9}, "model": {"size": "nano"}}
        (tmp_path / name / "config.json").write_text(json.dumps(config))
        (tmp_path / name / "metrics.jsonl").write_text(json.dumps({"step": 5, "eval/loss": loss}) + "\n")
    text = collate.compare(str(tmp_path / "a"), str(tmp_path / "b"))
    assert "  optim.learning_rate: 0.001 -> 0.002" in text and "b1" not in text
    assert "  eval/loss: 2.5000 | 2.2500 | -0.2500" in text


def test_curves_of_loss_by_position_are_plotted_when_the_runs_logged_them(tmp_path):
    make_sweep(tmp_path)
    assert not (tmp_path / "loss_by_position.png").exists() and collate.collate(str(tmp_path))
    assert not (tmp_path / "loss_by_position.png").exists()  # no run logged a curve
    for overrides, _, _ in RUNS:
        name = ",".join(f"{k}={v}" for k, v in overrides.items())
        with open(tmp_path / name / "metrics.jsonl", "a") as f:
            f.write(json.dumps({"step": 20, "eval/loss_by_position": [4.0, 3.0, 0.5, 0.25]}) + "\n")
    collate.collate(str(tmp_path))
    png = (tmp_path / "loss_by_position.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    a, b = (tmp_path / f"model.position={p},data.batch_size=8,seed=0" for p in ("learned", "rotary"))
    for run, position in ((a, "learned"), (b, "rotary")):
        (run / "config.json").write_text(json.dumps({"model": {"position": position}}))
    text = collate.compare(str(a), str(b))
    assert "  eval/loss: 2.0000 | 1.9000 | -0.1000" in text and "loss_by_position" not in text  # plotted, not compared


def test_a_single_runs_workdir_gets_its_curves_and_its_final_and_best_values(tmp_path, monkeypatch, capsys):
    records = [
        {"step": 10, "train/loss": 3.5},
        {"step": 10, "eval/loss": 3.0, "eval/accuracy": 0.5},
        {"step": 20, "train/loss": 2.5},
        {"step": 20, "eval/loss": 2.2, "eval/accuracy": 0.4},
    ]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    plotted = []
    real = collate._mean_and_range
    monkeypatch.setattr(collate, "_mean_and_range", lambda ax, xs, ys, label: plotted.append((xs, ys.tolist(), label))
                        or real(ax, xs, ys, label))  # fmt: skip
    row = collate.collate(str(tmp_path), "eval/accuracy")[0]
    assert row == {"final train/loss": 2.5, "best train/loss": 2.5, "final eval/loss": 2.2, "best eval/loss": 2.2,
                   "final eval/accuracy": 0.4, "best eval/accuracy": 0.5}  # fmt: skip
    name = f"run={tmp_path.name}"
    assert plotted == [([10, 20], [[3.5, 2.5]], name), ([10, 20], [[3.0, 2.2]], name), ([10, 20], [[0.5, 0.4]], name)]
    png = (tmp_path / "curves.png").read_bytes()
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and (width, height) == (1500, 400)  # three panels of 5 x 4 inches
    assert "eval/accuracy: final 0.4000, best 0.5000" in capsys.readouterr().out
    with pytest.raises(ValueError, match="eval/bleu is not in .*metrics.jsonl"):
        collate.collate(str(tmp_path), "eval/bleu")
