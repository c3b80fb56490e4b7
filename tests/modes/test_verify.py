"""--mode=verify (lm/modes/verify.py): the contracts are the experiment file's CONTRACTS of its argument (the
verification itself: tests/test_verify.py)."""

import json
import os

import pytest

from lm import metrics
from lm.experiment import Contract
from lm.experiment import load as load_experiment
from lm.modes import verify

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_contracts_are_those_the_experiment_file_declares_for_its_argument():
    contracts = verify.contracts(os.path.join(ROOT, "experiments", "shakespeare_char.py:cpu"))
    assert contracts and all(isinstance(c, Contract) for c in contracts)
    with pytest.raises(ValueError, match=r"declares no reproduction contract .* those it declares: .*default.py:\."):
        verify.contracts(os.path.join(ROOT, "experiments", "default.py:nonsense"))


def test_verify_prepares_the_shards_a_recipe_reads_then_trains(tmp_path, parsed):
    """A recipe on token shards is one command: verify prepares them first when data.shards has none."""
    texts = [f"the cat number {i} sat on the mat" for i in range(200)]
    (tmp_path / "c.jsonl").write_text("".join(f'{{"text": "{t}"}}\n' for t in texts))
    (tmp_path / "exp.py").write_text(
        "from lm.config import default_config, shrink_to_smoke\n"
        "from lm.experiment import Contract\n"
        "CONTRACTS = {'smoke': Contract(metric='eval/loss', target=100.0)}\n"
        "def get_config(arg='smoke'):\n"
        "    c = shrink_to_smoke(default_config())\n"
        f"    c.data.tokenizer, c.data.path, c.data.shards = 'byte', '{tmp_path}/c.jsonl', '{tmp_path}/shards'\n"
        "    return c\n"
    )
    experiment = f"{tmp_path}/exp.py:smoke"
    config = load_experiment(f"{tmp_path}/exp.py").get_config("smoke")
    parsed("--num_workers=1")
    verify.run(config, str(tmp_path / "run"), experiment)
    manifest = tmp_path / "shards" / "manifest.json"
    assert json.loads(manifest.read_text())["tokenizer"]["kind"] == "byte"
    assert [r["step"] for r in metrics.read(str(tmp_path / "run")) if "eval/loss" in r] == [4]
    written = manifest.stat().st_mtime_ns
    verify.run(config, str(tmp_path / "run"), experiment)  # the contract's step is logged: nothing runs again
    assert manifest.stat().st_mtime_ns == written


def test_one_of_several_processes_does_not_prepare_shards(tmp_path, parsed, monkeypatch, tiny_config):
    """Several processes would all write the same shards: each refuses, naming the one-process command."""
    import jax

    from lm.modes import prepare

    tiny_config.data.path, tiny_config.data.shards = str(tmp_path / "c.txt"), str(tmp_path / "shards")
    (tmp_path / "c.txt").write_text("the cat sat on the mat\n" * 200)
    parsed("--num_workers=1")
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    with pytest.raises(ValueError, match="Run --mode=prepare once without --num_processes"):
        prepare.prepare_shards(tiny_config)
    assert not (tmp_path / "shards").exists()
