"""Every flag of launch.py acts: the sampling flags write their config fields (whose effects test_run_fields.py
checks); every other flag is passed to launch.py by a test that checks what it does, some of them here."""

import ast
import json
import os
import subprocess
import sys

import pytest

from tests import launcher
from tests.knobs import registry

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMOKE = f"--config={ROOT}/experiments/default.py:smoke"


def launch(*args, cwd):
    return launcher.launch(*args, cwd=cwd, devices=8, timeout=300)


def test_every_sampling_flag_writes_its_config_field():
    flags = [f"--{flag}={value[0] if isinstance(value, tuple) else value}" for flag, (_, value) in
             registry.FLAG_FIELDS.items()]  # fmt: skip
    code = "import json, sys; from lm import cli; cli.parse_flags(sys.argv); "
    code += "print(json.dumps(cli.configured().to_dict()))"
    parsed = subprocess.run([sys.executable, "-c", code, *flags], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert parsed.returncode == 0, parsed.stderr
    config = json.loads(parsed.stdout.strip().splitlines()[-1])
    for flag, (field, value) in registry.FLAG_FIELDS.items():
        section, key = field.split(".")
        assert config[section][key] == (list(value) if isinstance(value, tuple) else value), flag


@pytest.mark.parametrize("flag", sorted(registry.FLAG_TESTS))
def test_every_other_flag_is_passed_to_the_launcher_by_a_test_of_what_it_does(flag):
    path, name = registry.FLAG_TESTS[flag].split("::")
    source = open(os.path.join(ROOT, path)).read()
    tests = {node.name: node for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)}
    assert name in tests, f"{registry.FLAG_TESTS[flag]} does not exist"
    assert f"--{flag}" in ast.get_source_segment(source, tests[name]), f"{name} does not pass --{flag}"


def test_the_flags_of_score_export_and_bench_generate_act(tmp_path):
    workdir = f"--workdir={tmp_path}/run"
    assert launch(SMOKE, workdir, cwd=tmp_path).returncode == 0
    (tmp_path / "text.txt").write_text("the cat sat")
    scored = launch(SMOKE, workdir, "--mode=score", f"--text_file={tmp_path}/text.txt", cwd=tmp_path)
    assert scored.returncode == 0, scored.stderr
    assert "'s'" in scored.stdout and "10 tokens scored" in scored.stdout  # the file's 11 characters, less the first
    for step in (2, 4):  # the run saved steps 2 and 4
        evaluated = launch(SMOKE, workdir, "--mode=eval", f"--step={step}", cwd=tmp_path)
        assert f"eval of the checkpoint at step {step}:" in evaluated.stdout, evaluated.stderr
    exported = launch(SMOKE, workdir, "--mode=export", f"--out={tmp_path}/hf", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    files = ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
    assert sorted(os.listdir(tmp_path / "hf")) == files
    args = ["--mode=bench_generate", "--bench_batch_sizes=3", "--bench_prompt_len=2", "--bench_new_tokens=5"]
    timed = launch(SMOKE, *args, cwd=tmp_path)
    assert timed.returncode == 0, timed.stderr
    summary = json.loads(timed.stdout.strip().splitlines()[-1])
    assert "batch 3: the KV cache" in timed.stdout and [r["batch_size"] for r in summary["results"]] == [3, 3]
    assert (summary["prompt_len"], summary["new_tokens"]) == (2, 5), summary


def test_traceback_and_distributed_change_how_the_launcher_starts_and_fails(tmp_path):
    bad = [SMOKE, "--config.model.dmodel=64"]
    assert "Traceback" not in launch(*bad, cwd=tmp_path).stderr
    assert "Traceback" in launch(*bad, "--traceback", cwd=tmp_path).stderr
    # --distributed: jax.distributed from the cluster's environment, which this machine does not have
    alone = launch(SMOKE, "--distributed", f"--workdir={tmp_path}/run", cwd=tmp_path)
    assert alone.returncode == 1 and "coordinator_address" in alone.stderr and not os.path.exists(tmp_path / "run")
