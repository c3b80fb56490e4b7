"""The bad-input matrix of tests/test_bad_input.py: its cases (inputs.py, modes.py) and what they name. A case's
arguments hold placeholders for the places the test's fixture makes, filled per case."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMOKE = f"--config={ROOT}/experiments/default.py:smoke"
S2S = f"--config={ROOT}/experiments/seq2seq_tasks.py:smoke"
PREPARE = ["--mode=prepare", "--config.data.shards={new}/shards"]
T, M, S, G, F, N = "{trained}", "{masked}", "{s2s}", "{gru}", "{files}", "{new}"
