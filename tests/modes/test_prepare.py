"""--mode=prepare (lm/modes/prepare.py) through the launcher: a corpus into token shards over --num_workers
processes, then a run that trains on them; without data.shards it says where the shards go."""

import json

from tests import launcher
from tests.modes.test_sweep import ROOT

SMOKE = f"--config={ROOT}/experiments/default.py:smoke"


def test_prepare_then_train_on_the_shards(tmp_path):
    texts = [f"the cat number {i} sat on the mat" for i in range(200)]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    corpus, out = f"--config.data.path={tmp_path}/c.jsonl", f"--config.data.shards={tmp_path}/shards"
    refused = launcher.launch(SMOKE, "--mode=prepare", corpus, cwd=tmp_path, timeout=300)
    assert refused.returncode == 1 and "set --config.data.shards=DIR" in refused.stderr
    made = launcher.launch(SMOKE, "--mode=prepare", corpus, out, "--num_workers=2", cwd=tmp_path, timeout=300)
    assert made.returncode == 0, made.stderr
    assert "prepared" in made.stdout and (tmp_path / "shards" / "manifest.json").exists()
    trained = launcher.launch(SMOKE, out, f"--workdir={tmp_path}/run", cwd=tmp_path, timeout=300)
    assert trained.returncode == 0, trained.stderr
    assert "train tokens in 1 shards" in trained.stdout and "eval at step 4" in trained.stdout
