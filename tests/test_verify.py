"""Reproduction contracts: each bound against hand-picked values, PASS and FAIL from a workdir's metrics,
training only when the step is not logged yet, and the README's table generated from the experiment files."""

import dataclasses
import json
import os
import re

import pytest

from lm import experiment, verify

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_metrics(workdir, records):
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "metrics.jsonl"), "a") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)


def test_verify_reads_a_finished_workdir_and_trains_only_when_the_step_is_missing(tiny_config, tmp_path, capsys):
    tiny_config.train.num_steps = 20
    contract = experiment.Contract(metric="eval/loss", target=2.0, bound="at_most", step=10, source="a paper, Table 1")
    done = str(tmp_path / "done")
    write_metrics(done, [{"step": 10, "eval/loss": 1.5}, {"step": 20, "eval/loss": 2.5}])

    def must_not_train(config, workdir):
        raise AssertionError("trained again")

    assert verify.verify(tiny_config, done, contract, must_not_train)
    assert "PASS: eval/loss = 1.5000 (contract: eval/loss <= 2 at step 10; source: a paper, Table 1)" in (
        capsys.readouterr().out
    )
    last = experiment.Contract(metric="eval/loss", target=2.0, bound="at_most")  # the run's last step: 20
    assert not verify.verify(tiny_config, done, last, must_not_train)
    assert "FAIL: eval/loss = 2.5000" in capsys.readouterr().out

    trained = []

    def fake_train(config, workdir):
        trained.append(workdir)
        write_metrics(workdir, [{"step": 10, "eval/loss": 1.0}])

    assert verify.verify(tiny_config, str(tmp_path / "new"), contract, fake_train) and len(trained) == 1
    with pytest.raises(ValueError, match="about step 30 but the run ends at train.num_steps=20"):
        verify.verify(tiny_config, done, experiment.Contract(metric="eval/loss", target=1.0, step=30), must_not_train)
    with pytest.raises(ValueError, match="has no eval/bleu at step 10"):
        verify.verify(tiny_config, done, experiment.Contract(metric="eval/bleu", target=1.0, step=10), fake_train)


def test_the_docs_table_is_the_experiment_files_contracts():
    with open(os.path.join(ROOT, "docs", "experiments.md")) as f:
        page = f.read()
    found = re.search(r"<!-- contracts -->\n(.*?)<!-- /contracts -->", page, re.S)
    assert found, "docs/experiments.md has no <!-- contracts --> section"
    assert found.group(1) == verify.table(os.path.join(ROOT, "experiments")), (
        "docs/experiments.md's contracts table differs from the experiment files': paste the output of "
        'python -c \'from lm import verify; print(verify.table("experiments"), end="")\''
    )


def test_a_contract_over_seeds_against_a_baseline_trains_each_variant_and_holds_on_every_seed(
    tiny_config, tmp_path, capsys
):
    tiny_config.train.num_steps = 10
    pretrained = {0: 0.80, 1: 0.75, 2: 0.70}
    trained = []

    def fake_train(config, workdir):  # pretrained beats scratch by 0.1 on seeds 0 and 1, by 0.01 on seed 2
        trained.append(os.path.basename(workdir))
        value = pretrained[config.seed] - (0.1 if config.seed < 2 else 0.01) * (not config.finetune.load_weights)
        write_metrics(workdir, [{"step": 10, "eval/accuracy": value, "eval/loss": 1.0}])

    contract = experiment.Contract(
        metric="eval/accuracy", target=0.05, bound="at_least", overrides={"finetune.load_weights": True},
        baseline={"finetune.load_weights": False}, seeds=(0, 1, 2), beside=("eval/loss",),
    )  # fmt: skip
    assert contract.describe() == (
        "finetune.load_weights=True: eval/accuracy minus that of finetune.load_weights=False >= 0.05, "
        "every seed of 0, 1, 2"
    )
    workdir = str(tmp_path / "sweep")
    assert not verify.verify(tiny_config, workdir, contract, fake_train)  # seed 2 wins by 0.01 only
    out = capsys.readouterr().out
    assert sorted(trained) == sorted(f"finetune.load_weights={w},seed={s}" for w in (True, False) for s in range(3))
    assert "finetune.load_weights=True,seed=0: eval/accuracy 0.8000, finetune.load_weights=False 0.7000, " in out
    assert "difference +0.1000; eval/loss = 1.0000\n" in out
    assert "seed=2: eval/accuracy 0.7000, finetune.load_weights=False 0.6900, difference +0.0100" in out
    assert "<- fails" in out and "FAIL: worst of 3 seeds: eval/accuracy = 0.0100" in out
    with open(os.path.join(workdir, "finetune.load_weights=False,seed=1", "sweep.json")) as f:
        assert json.load(f)["status"] == "done"

    trained.clear()  # the runs are logged: verifying again trains nothing
    looser = dataclasses.replace(contract, target=0.01)
    assert verify.verify(tiny_config, workdir, looser, fake_train) and trained == []
    assert "PASS: worst of 3 seeds: eval/accuracy = 0.0100" in capsys.readouterr().out

    one = experiment.Contract(metric="eval/accuracy", target=0.7, bound="at_least", overrides=contract.overrides)
    assert verify.verify(tiny_config, workdir, one, fake_train) and trained == []  # the config's seed, 0
    assert "PASS: eval/accuracy = 0.8000" in capsys.readouterr().out


def test_a_failed_variant_fails_the_contract_with_its_error(tiny_config, tmp_path, capsys):
    tiny_config.train.num_steps = 10

    def broken(config, workdir):
        raise RuntimeError("out of memory")

    contract = experiment.Contract(metric="eval/loss", target=1.0, seeds=(0, 1))
    with pytest.raises(ValueError, match="seed=0/metrics.jsonl has no eval/loss at step 10"):
        verify.verify(tiny_config, str(tmp_path), contract, broken)
    assert "seed=0: failed: RuntimeError: out of memory" in capsys.readouterr().out


def test_contracts_may_be_a_list_per_argument(tmp_path):
    path = tmp_path / "exp.py"
    path.write_text(
        "from lm.experiment import Contract\n"
        "CONTRACTS = {'cpu': [Contract(metric='eval/loss', target=1.0), Contract(metric='eval/accuracy', target=0.5,"
        " bound='at_least', overrides={'model.num_layers': 2}, beside=('eval/loss',))],"
        " '': Contract(metric='eval/loss', target=2.0)}\n"
    )
    module = experiment.load(str(path))
    assert [len(c) for c in experiment.contracts_of(module).values()] == [2, 1]
    rows = verify.table(str(tmp_path)).splitlines()[2:]
    assert len(rows) == 3 and "`exp.py:cpu` | model.num_layers=2: eval/accuracy >= 0.5 (beside: eval/loss) |" in rows[1]
    path.write_text("CONTRACTS = {'cpu': ['eval/loss <= 1']}\n")
    with pytest.raises(ValueError, match="CONTRACTS must be a dict of config argument -> lm.experiment.Contract"):
        experiment.contracts_of(experiment.load(str(path)))
