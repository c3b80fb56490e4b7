"""`python -m lm.harness` (lm/harness.py): the harness's own command line with `lm-jax` registered gives the
numbers of --mode=harness on the same workdir."""

import glob
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("lm_eval")

from lm import train  # noqa: E402
from lm.evaluators.harness_task import HELDOUT  # noqa: E402
from lm.modes import harness as harness_mode  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_harness_command_line_runs_lm_jax_as_the_mode_does(tiny_config, tmp_path):
    workdir = str(tmp_path / "run")
    train.train(tiny_config, workdir)
    ours = harness_mode.harness(tiny_config, workdir, [HELDOUT], num_fewshot=1, limit=6)["results"][HELDOUT]
    tasks = os.path.join(workdir, "harness_tasks", HELDOUT)  # the mode's task files, from the held-out text
    args = ["--model", "lm-jax", "--model_args", f"path={workdir}", "--batch_size", "4", "--tasks", HELDOUT]
    args += ["--include_path", tasks, "--num_fewshot", "1", "--limit", "6", "--output_path", str(tmp_path / "out")]
    command = subprocess.run(
        [sys.executable, "-m", "lm.harness", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert command.returncode == 0, command.stderr[-3000:]
    (path,) = glob.glob(str(tmp_path / "out" / "**" / "results_*.json"), recursive=True)
    with open(path) as f:
        theirs = json.load(f)["results"][HELDOUT]
    assert (theirs["acc,none"], theirs["acc_norm,none"]) == (ours["acc,none"], ours["acc_norm,none"])
    assert f"|{HELDOUT}|" in command.stdout  # the harness's own table


def test_without_the_harness_installed_it_says_what_to_install(tmp_path):
    code = "import sys; sys.modules['lm_eval'] = None; from lm import harness; harness.main([])"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "pip install -r requirements-eval.txt" in result.stderr
