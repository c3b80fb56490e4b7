"""--mode=bench_generate (lm/modes/bench_generate.py): generation speed from the config alone."""

import pytest

from lm.modes import bench_generate


def test_bench_generate_times_both_paths_from_the_config_alone(tiny_config, capsys):
    summary = bench_generate.bench_generate(tiny_config, batch_sizes=[1, 2], prompt_len=3, new_tokens=4, repeats=1)
    assert [(r["batch_size"], r["cache"]) for r in summary["results"]] == [(1, True), (1, False), (2, True), (2, False)]
    assert all(r["tokens_per_s"] > 0 for r in summary["results"]) and summary["params"] == 26_880
    assert "the KV cache is" in capsys.readouterr().out
    with pytest.raises(ValueError, match="longer than the model's context of 16 tokens"):
        bench_generate.bench_generate(tiny_config, batch_sizes=[1], prompt_len=8, new_tokens=9)
