"""--mode=bench (lm/modes/bench.py): --bench_steps times that many steps, 0 compiles only, below 0 is refused
(the figures: tests/test_bench.py)."""

import pytest

from lm.modes import bench


def test_bench_steps_zero_compiles_only_and_a_negative_count_is_refused(tiny_config, parsed, capsys):
    parsed("--bench_steps=-1")
    with pytest.raises(ValueError, match="--bench_steps=-1 must be >= 0"):
        bench.run(tiny_config, None, "experiments/default.py")
    parsed("--bench_steps=0")
    bench.run(tiny_config, None, "experiments/default.py")
    out = capsys.readouterr().out
    assert "compile" in out and "step time" not in out
