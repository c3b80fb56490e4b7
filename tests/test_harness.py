"""`python -m lm.harness` (lm/harness.py): the harness's own command line with `lm-jax` registered gives the
numbers of --mode=harness on the same workdir, and so does `lm_eval --model hf` on the workdir's export."""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("lm_eval")

from lm import train  # noqa: E402
from lm.evaluators.harness_task import HELDOUT  # noqa: E402
from lm.modes import export  # noqa: E402
from lm.modes import harness as harness_mode  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_harness_command_line_gives_the_modes_numbers_for_lm_jax_and_for_hf_on_the_export(tiny_config, tmp_path):
    """`python -m lm.harness --model lm-jax` on the workdir, and lm_eval's own `--model hf` (transformers on
    PyTorch) on its export, each give --mode=harness's acc and acc_norm."""
    workdir = str(tmp_path / "run")
    train.train(tiny_config, workdir)
    ours = harness_mode.harness(tiny_config, workdir, [HELDOUT], num_fewshot=1, limit=6)["results"][HELDOUT]
    export.export(tiny_config, workdir, str(tmp_path / "hf"))
    tasks = os.path.join(workdir, "harness_tasks", HELDOUT)  # the mode's task files, from the held-out text
    common = ["--batch_size", "4", "--tasks", HELDOUT, "--include_path", tasks, "--num_fewshot", "1", "--limit", "6"]
    common += ["--log_samples"]
    runs = {
        "lm-jax": ["lm.harness", "--model", "lm-jax", "--model_args", f"path={workdir}"],
        "hf": [
            "lm_eval",
            "--model",
            "hf",
            "--model_args",
            f"pretrained={tmp_path / 'hf'},dtype=float32",
            "--device",
            "cpu",
        ],
    }
    log_likelihoods = {}
    for name, args in runs.items():
        out = str(tmp_path / f"out_{name}")
        command = subprocess.run(
            [sys.executable, "-m", *args, *common, "--output_path", out],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert command.returncode == 0, command.stderr[-3000:]
        (path,) = glob.glob(os.path.join(out, "**", "results_*.json"), recursive=True)
        with open(path) as f:
            theirs = json.load(f)["results"][HELDOUT]
        assert (theirs["acc,none"], theirs["acc_norm,none"]) == (ours["acc,none"], ours["acc_norm,none"]), name
        assert f"|{HELDOUT}|" in command.stdout  # the harness's own table
        (path,) = glob.glob(os.path.join(out, "**", f"samples_{HELDOUT}_*.jsonl"), recursive=True)
        with open(path) as f:
            records = sorted((json.loads(line) for line in f), key=lambda r: r["doc_id"])
        log_likelihoods[name] = [float(resp[0][0]) for r in records for resp in r["resps"]]
    assert len(log_likelihoods["hf"]) == 24  # 6 documents, 4 choices each: every one as lm-jax scored it
    np.testing.assert_allclose(log_likelihoods["hf"], log_likelihoods["lm-jax"], rtol=1e-5, atol=1e-4)


def test_without_the_harness_installed_it_says_what_to_install(tmp_path):
    code = "import sys; sys.modules['lm_eval'] = None; from lm import harness; harness.main([])"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "pip install -r requirements-eval.txt" in result.stderr
