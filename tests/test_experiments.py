"""Every experiment runs at smoke size, and the launcher's modes work end to end."""

import glob
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from lm import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENTS = sorted(glob.glob(os.path.join(ROOT, "experiments", "*.py")))


def load_experiment(path):
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", EXPERIMENTS, ids=os.path.basename)
def test_experiment_trains_at_smoke_size(path, tmp_path, request):
    module = load_experiment(path)
    assert "python launch.py" in module.__doc__  # the docstring gives the command
    config = module.get_config("smoke")
    if config.data.tokenizer == "hf":  # a pretrained model's experiment: a tiny GPT-2 directory of our own
        config.init_from = request.getfixturevalue("hf_gpt2_dir")
    if config.objective in ("classify", "tag"):  # offline: a labelled file of our own
        rows = "".join(f"{'cat dog owl pig'[i % 7 :]},{i % 3}\n" for i in range(60))
        (tmp_path / "labelled.csv").write_text("text,label\n" + rows)
        config.data.path, config.data.tfds_name, config.data.task = str(tmp_path / "labelled.csv"), "", ""
    elif config.data.tfds_name:  # offline: the same text through a local file
        text = "".join(chr(32 + (i * 7) % 90) for i in range(5000))
        (tmp_path / "corpus.txt").write_text(text)
        config.data.path = str(tmp_path / "corpus.txt")
    final = train.train(config, str(tmp_path / "run"))
    assert final["eval/loss"] > 0 and 0 <= final["eval/accuracy"] <= 1


def launch(*args, cwd):
    env = dict(os.environ, XLA_FLAGS="")  # one device: the launcher as a user runs it
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "launch.py"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


def test_launcher_train_eval_sample_and_input_errors(tmp_path):
    smoke = f"--config={ROOT}/experiments/default.py:smoke"
    trained = launch(smoke, cwd=tmp_path)  # no --workdir: workdirs/default_smoke under the cwd
    assert trained.returncode == 0, trained.stderr
    assert "eval at step 4" in trained.stdout and "--- sample 2 ---" in trained.stdout
    workdir = tmp_path / "workdirs" / "default_smoke"
    assert (workdir / "config.json").exists()

    assert len(os.listdir(workdir / "data_cache")) == 1  # the token ids, for the next launch

    evaluated = launch(smoke, f"--workdir={workdir}", "--mode=eval", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "eval/loss" in evaluated.stdout and "eval/perplexity" in evaluated.stdout

    sampled = launch(
        smoke,
        f"--workdir={workdir}",
        "--mode=sample",
        "--prompt=dog",
        "--num_samples=3",
        "--max_new_tokens=5",
        "--temperature=0",
        cwd=tmp_path,
    )
    assert sampled.returncode == 0, sampled.stderr
    samples = [line for line in sampled.stdout.splitlines() if line.startswith("dog")]
    assert len(samples) == 3 and len(set(samples)) == 1 and all(len(s) == 8 for s in samples)  # greedy

    before = sorted(os.listdir(workdir))
    for args, needle in [
        (["--prompt=dog ©"], "outside the character vocabulary"),
        (["--max_new_tokens=100"], "longer than the model's context"),
    ]:
        result = launch(smoke, f"--workdir={workdir}", "--mode=sample", *args, cwd=tmp_path)
        assert result.returncode == 1 and needle in result.stderr and "Traceback" not in result.stderr
    missing = launch(smoke, f"--workdir={tmp_path}/new", "--config.data.path=/no/such/file.txt", cwd=tmp_path)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    bad_prompt = launch(smoke, f"--workdir={tmp_path}/new", "--config.sample.prompt=©", cwd=tmp_path)
    assert bad_prompt.returncode == 1 and "outside the character vocabulary" in bad_prompt.stderr
    assert not os.path.exists(tmp_path / "new")  # not even the data cache
    assert sorted(os.listdir(workdir)) == before


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


def test_bench_scaling_points_and_the_largest_that_fits():
    from lm import bench_scaling

    figures = bench_scaling.point(0, **bench_scaling.shape("nano", 2, 16, mode="scan + full"))
    assert figures["remat"] == "full" and figures["batch_size"] == 2 and figures["seq_len"] == 16
    assert figures["step_memory_mb"] > 0 and figures["timed_steps"] == 0
    assert bench_scaling.point(0, **{"model.size": "enormous"}) is None  # a failed point, not a crash
    # the search stops at the first candidate that does not fit and reports the one before it
    tried = []
    fits = lambda b: tried.append(b) or ({"b": b} if b * 3 <= 16 else None)  # noqa: E731
    assert bench_scaling.largest(fits, [1, 2, 4, 8, 16]) == (4, {"b": 4})
    assert tried == [1, 2, 4, 8]
    assert bench_scaling.largest(lambda b: None, [1, 2]) == (None, None)
