"""--mode=bench: every figure, the FLOP count, compile-only memory; it depends on the config alone."""

import json

import pytest

from tests.test_experiments import ROOT, launch


def test_bench_mode_prints_every_figure_and_writes_nothing(tmp_path):
    result = launch(f"--config={ROOT}/experiments/default.py:smoke", "--mode=bench", "--bench_steps=3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])  # the JSON line comes last
    for key in (
        "step_ms_median tokens_per_s flops_per_token attention_flops_per_token achieved_tflops "
        "peak_matmul_tflops_measured mfu_measured_peak compile_s startup_s input_ms_per_batch "
        "peak_host_memory_mb step_memory_mb"
    ).split():
        assert isinstance(figures[key], (int, float)) and figures[key] > 0, key
    assert figures["step_ms_min"] <= figures["step_ms_median"] <= figures["step_ms_max"]
    assert 0 < figures["mfu_measured_peak"] < 1
    assert figures["tokens_per_s"] == pytest.approx(8 * 16 / (figures["step_ms_median"] / 1000))
    # nano: 26,880 parameters, 512 of them the position table; 12 * 2 layers * 32 * 16 for attention
    assert figures["flops_per_token"] == 6 * (26_880 - 16 * 32) + 12 * 2 * 32 * 16
    assert "MFU" in result.stdout and "input pipeline" in result.stdout
    assert not (tmp_path / "workdirs").exists()

    # --bench_steps=0 compiles only: the memory a (scanned, rematerialised) step needs, nothing timed
    args = ["--mode=bench", "--bench_steps=0", "--config.model.scan_layers=True"]
    compiled = [
        json.loads(
            launch(f"--config={ROOT}/experiments/default.py:smoke", *args, remat, cwd=tmp_path).stdout.split("\n")[-2]
        )
        for remat in ("--config.model.remat=none", "--config.model.remat=full")
    ]
    for figures in compiled:
        assert figures["timed_steps"] == 0 and "step_ms_median" not in figures and figures["step_memory_mb"] > 0
    assert compiled[1]["remat"] == "full" and compiled[1]["step_memory_mb"] < compiled[0]["step_memory_mb"]


def test_bench_neither_reads_nor_writes_the_workdir_the_main_job_left(tmp_path):
    smoke = f"--config={ROOT}/experiments/default.py:smoke"
    # A user ran another model into the default workdir first (as `python launch.py` leaves workdirs/default).
    other = launch(smoke, "--config.model.d_model=64", "--config.data.tokenizer=byte", cwd=tmp_path)
    assert other.returncode == 0, other.stderr
    workdir = tmp_path / "workdirs" / "default_smoke"
    before = sorted(p.name for p in workdir.iterdir())
    result = launch(smoke, "--mode=bench", "--bench_steps=1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["params"] == 26_880  # the configured nano model, not the workdir's
    assert sorted(p.name for p in workdir.iterdir()) == before
