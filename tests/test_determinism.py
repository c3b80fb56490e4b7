"""The same command twice gives byte-identical metrics.jsonl on CPU, for every family and objective.

Two processes (with different hash seeds: no set or dict order may leak into the vocabulary or the data)
train each base experiment of tests/knobs/bases.py into their own workdirs; their records must be the same
bytes, and so must the checkpoints' parameters. The second process reads the programs the first compiled
from a shared compilation cache, as a relaunch does (half the time): what this checks is the run, not that
XLA compiles the same program twice to the same code.
"""

import filecmp
import os
import subprocess
import sys

import jax
import numpy as np

from lm.checkpoint import Checkpointer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETTINGS = ["causal", "masked", "classify", "tag", "seq2seq", "gru", "span corruption"]
TRAIN_ALL = """
import contextlib, io, pathlib, sys
from lm import train
from tests.knobs.bases import bases, write_data
data, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
configs = bases(data)
for name in sys.argv[3:]:
    config = configs[name]
    config.train.log_every, config.train.eval_every = 1, 2
    with contextlib.redirect_stdout(io.StringIO()):
        train.train(config, str(out / name.replace(" ", "_")))
"""


def test_the_same_command_twice_logs_the_same_bytes_for_every_family_and_objective(tmp_path):
    from tests.knobs.bases import write_data

    write_data(tmp_path)
    for hash_seed in ("1", "2"):  # one after the other: the second reads the first's compiled programs
        env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=ROOT)
        env |= {
            "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "jax_cache"),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        }
        command = [sys.executable, "-c", TRAIN_ALL, str(tmp_path), str(tmp_path / hash_seed), *SETTINGS]
        result = subprocess.run(command, env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
    assert os.listdir(tmp_path / "jax_cache")  # the first process's programs, for the second
    for name in SETTINGS:
        a, b = (tmp_path / seed / name.replace(" ", "_") for seed in ("1", "2"))
        assert len((a / "metrics.jsonl").read_text().splitlines()) >= 5, name
        assert filecmp.cmp(a / "metrics.jsonl", b / "metrics.jsonl", shallow=False), name
        params = [Checkpointer(str(w), read_only=True).restore_params() for w in (a, b)]
        for x, y in zip(*(jax.tree.leaves(p) for p in params), strict=True):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=name)
