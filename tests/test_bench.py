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
    # nano (2 layers, d_model 32, d_ff 128, the corpus' 40 characters, 16 tokens) counted by hand: per layer and
    # token, 4 D^2 projections + 2 D F in the MLP + 2 D T for scores and their sum, then the D V head; a
    # multiply-add is 2 FLOPs and training 3 passes. 6N + 12 L D T, less N's biases and norms.
    D, F, T, L, V = 32, 128, 16, 2, figures["vocab_size"]
    assert figures["flops_per_token"] == 3 * 2 * (L * (4 * D * D + 2 * D * F + 2 * D * T) + D * V)
    assert figures["attention_flops_per_token"] == 3 * 2 * L * 2 * D * T
    assert figures["step_gflops"] == pytest.approx(figures["flops_per_token"] * 8 * 16 / 1e9, rel=1e-4)
    assert 1 < figures["xla_step_gflops"] / figures["step_gflops"] < 1.5  # elementwise work and the optimizer
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
        assert figures["step_gflops"] == pytest.approx(8 * 16 * figures["flops_per_token"] / 1e9, rel=1e-4)
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


def test_the_preflight_compiles_shapes_only_and_reports_each_devices_share(tiny_config):
    import jax

    from lm import bench
    from lm.run import prepare

    abstract = prepare(tiny_config, None, restore="never", abstract=True)
    assert all(isinstance(x, jax.ShapeDtypeStruct) for x in jax.tree.leaves(abstract.state))  # nothing allocated
    figures = {}
    for name, mesh in (("pmap", None), ("fsdp 8", (1, 8, 1)), ("2 x 2 x 2", (2, 2, 2))):
        c = tiny_config.copy_and_resolve_references()
        if mesh:
            c.parallel.mode, (c.parallel.data, c.parallel.fsdp, c.parallel.tensor) = "mesh", mesh
        figures[name] = bench.bench(c, steps=0)
    pmap, fsdp, both = figures["pmap"], figures["fsdp 8"], figures["2 x 2 x 2"]
    n = pmap["params"]  # nano: 26,880 float32 parameters, every one on each of the 8 pmap replicas
    assert pmap["params_mb_per_device"] == pytest.approx(4 * n / 2**20)
    assert pmap["optimizer_mb_per_device"] == pytest.approx(2 * 4 * n / 2**20, rel=1e-3)  # Adam's mu and nu
    # FSDP 8 splits every d_model axis (32) in 8; what has none (biases of the MLP's 128 units, norms' and the
    # position table's rows) stays whole, so each device holds more than an eighth, far less than all
    assert 4 * n / 8 / 2**20 < fsdp["params_mb_per_device"] < 0.3 * pmap["params_mb_per_device"]
    assert both["params_mb_per_device"] < 0.5 * pmap["params_mb_per_device"]
    for r in figures.values():
        assert r["timed_steps"] == 0 and r["temp_mb_per_device"] > 0 and r["step_gflops_per_device"] > 0
        assert r["step_gflops"] == pmap["step_gflops"]  # the model's FLOPs, however they are spread
    # the same batch slice per device, but each FSDP device updates only its shard of the weights and Adam's state
    assert fsdp["step_gflops_per_device"] < pmap["step_gflops_per_device"]


def test_scanned_layers_count_the_flops_of_every_layer(tiny_config):
    from lm import bench

    tiny_config.model.num_layers = 4
    figures = {}
    for scan in (False, True):
        tiny_config.model.scan_layers = scan
        figures[scan] = bench.bench(tiny_config.copy_and_resolve_references(), steps=0)
    assert figures[True]["step_gflops"] == figures[False]["step_gflops"]
    # XLA's cost analysis counts a scanned body once: 1 of the 4 layers
    assert figures[True]["xla_step_gflops"] < 0.7 * figures[False]["xla_step_gflops"]
    assert 1 < figures[False]["xla_step_gflops"] / figures[False]["step_gflops"] < 1.5


def test_fsdp_keeps_activations_split_by_rows(tiny_config):
    """Without the model's row constraint under a mesh (layers.shard_rows), XLA gathered the batch rather than
    the weights for FSDP: 585 MB of temporaries per device here instead of 136 (data parallel: 180)."""
    from lm import bench

    c = tiny_config
    c.model.size, c.model.num_layers, c.model.vocab_size, c.model.scan_layers = "small", 2, 512, True
    c.data.seq_len = c.model.max_len = 256
    c.parallel.mode = "mesh"
    temp = {}
    for axis in ("data", "fsdp"):
        c.parallel.data, c.parallel.fsdp = (8, 1) if axis == "data" else (1, 8)
        temp[axis] = bench.bench(c, steps=0)["temp_mb_per_device"]
    assert temp["fsdp"] < temp["data"]
