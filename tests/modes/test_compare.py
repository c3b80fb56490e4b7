"""--mode=compare (lm/modes/compare.py): --workdir beside --compare_to (the comparison itself:
tests/test_collate.py)."""

import json

import pytest

from lm.modes import compare


def test_compare_needs_compare_to_and_prints_the_two_runs(tmp_path, parsed, tiny_config, capsys):
    for name, lr in (("a", 0.001), ("b", 0.002)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(
            json.dumps({"optim": {"learning_rate": lr}, "model": {"size": "nano"}})
        )
        (tmp_path / name / "metrics.jsonl").write_text(json.dumps({"step": 5, "eval/loss": 2.0 + lr}) + "\n")
    parsed()
    with pytest.raises(ValueError, match="needs --compare_to=DIR"):
        compare.run(tiny_config, str(tmp_path / "a"), "experiments/default.py")
    parsed(f"--compare_to={tmp_path / 'b'}")
    compare.run(tiny_config, str(tmp_path / "a"), "experiments/default.py")
    assert "optim.learning_rate: 0.001 -> 0.002" in capsys.readouterr().out
