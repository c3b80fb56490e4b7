"""--mode=collate (lm/modes/collate.py): --metric adds a column to the table (collation itself:
tests/test_collate.py)."""

from lm.modes import collate
from tests.test_collate import make_sweep


def test_metric_adds_its_column(tmp_path, parsed, tiny_config):
    make_sweep(tmp_path)
    parsed()
    collate.run(tiny_config, str(tmp_path), "experiments/default.py")
    assert "eval/accuracy" not in (tmp_path / "results.md").read_text()
    parsed("--metric=eval/accuracy")
    collate.run(tiny_config, str(tmp_path), "experiments/default.py")
    assert "eval/accuracy" in (tmp_path / "results.md").read_text()
