"""The command line (lm/cli.py, run by launch.py and `lm`): its real flag parser (overrides, types, unknown keys), its
modes' flags, its environment."""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

from tests import launcher

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def launch(*args, cwd=None):
    return launcher.launch(*args, cwd=cwd, devices=8, timeout=300)


@pytest.mark.parametrize(
    "flag,needle",
    [
        ("--config.model.dmodel=64", "unknown config key: dmodel Did you mean d_model"),
        ("--config.train.num_steps=1.5", "--config.train.num_steps=1.5"),
        ("--config.model.position=alibi", "model.position='alibi'"),
        ("--config.model.attention=cudnn", "model.attention=cudnn is cuDNN's fused attention, for NVIDIA GPUs"),
    ],
)
def test_bad_overrides_fail_before_anything_runs(flag, needle, tmp_path):
    result = launch(f"--config={ROOT}/experiments/default.py:smoke", f"--workdir={tmp_path}/w", flag)
    assert result.returncode != 0
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    assert not os.path.exists(tmp_path / "w")


def parsed(*args) -> dict:
    """The config launch.py's own parser builds from these flags (the sample flags applied as main applies them)."""
    code = (
        "import json, sys; from lm import cli; cli.parse_flags(sys.argv); "
        "print(json.dumps({'config': cli.configured().to_dict(), 'workdir': cli.workdir_flag()}))"
    )
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_overrides_reach_the_config_through_the_real_parser():
    out = parsed("--config=experiments/shakespeare_char.py:cpu", "--config.model.num_layers=6", "--config.seed=3")
    config = out["config"]
    assert config["model"]["num_layers"] == 6 and config["seed"] == 3
    assert config["data"]["seq_len"] == 64 and config["optim"]["grad_accum_steps"] == 2  # the experiment's own
    assert out["workdir"] == os.path.join("workdirs", "shakespeare_char_cpu")
    assert parsed()["workdir"] == os.path.join("workdirs", "default")  # no --config: the default experiment


def test_an_int_where_a_float_is_expected_is_fine():
    config = parsed("--config.optim.learning_rate=1", "--config.model.dropout=0")["config"]
    assert config["optim"]["learning_rate"] == 1.0 and isinstance(config["optim"]["learning_rate"], float)


def test_sample_flags_set_the_sample_section_and_sample_seed_is_not_the_run_seed():
    config = parsed("--sample_seed=7", "--temperature=0", "--stop=\\n\\n", "--prompt=ROMEO:", "--num_samples=5")[
        "config"
    ]
    assert config["sample"]["seed"] == 7 and config["seed"] == 0
    assert config["sample"]["temperature"] == 0.0 and config["sample"]["num_samples"] == 5
    assert config["sample"]["prompt"] == "ROMEO:" and config["sample"]["stop"] == ["\\n\\n"]
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "launch.py"), "--seed=1"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode != 0 and "seed" in result.stderr and "Traceback" not in result.stderr


def test_fake_cpu_devices_get_two_pool_threads_each_unless_nproc_is_set():
    from lm import cli

    cases = [
        ({"XLA_FLAGS": "--xla_cpu_enable_fast_math=false --xla_force_host_platform_device_count=4"}, "8"),
        ({"XLA_FLAGS": "--xla_force_host_platform_device_count=4", "NPROC": "3"}, "3"),  # the user's choice
        ({"XLA_FLAGS": "--xla_force_host_platform_device_count=1"}, None),
        ({}, None),
    ]
    for environ, nproc in cases:
        cli.widen_cpu_thread_pool(environ)
        assert environ.get("NPROC") == nproc


def test_pip_builds_the_package_lm_with_its_command_and_without_the_experiments(tmp_path):
    """What `pip install .` installs, built offline here (this environment's setuptools): every module of lm/,
    the `lm` command as lm.cli:run, Python 3.12+; experiments/, tests/ and tools/ stay in the checkout."""
    source = tmp_path / "checkout"
    for name in ("lm", "experiments", "tests", "tools"):
        shutil.copytree(os.path.join(ROOT, name), source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("launch.py", "pyproject.toml", "README.md"):
        shutil.copy(os.path.join(ROOT, name), source / name)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
    built = subprocess.run([*command, str(source), "-w", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("lm-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        info = {n.split("/")[-1]: z.read(n).decode() for n in names if ".dist-info/" in n}
    modules = {str(p.relative_to(ROOT)) for p in pathlib.Path(ROOT, "lm").rglob("*.py")}
    assert {n for n in names if n.endswith(".py")} == modules
    assert info["entry_points.txt"].split() == ["[console_scripts]", "lm", "=", "lm.cli:run"]
    assert "Requires-Python: >=3.12" in info["METADATA"] and "Requires-Dist: jax>=0.12.0.1" in info["METADATA"]
