"""Reproduction contracts: each bound against hand-picked values, PASS and FAIL from a workdir's metrics,
training only when the step is not logged yet, and the README's table generated from the experiment files."""

import json
import os
import re

import pytest

from lm import verify

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_each_bound_holds_where_it_should():
    at_most = verify.Contract(metric="eval/loss", target=1.92, bound="at_most", step=2000)
    assert at_most.holds(1.92) and at_most.holds(1.5) and not at_most.holds(1.9201) and not at_most.holds(float("nan"))
    at_least = verify.Contract(metric="eval/exact_match", target=0.99, bound="at_least")
    assert at_least.holds(1.0) and at_least.holds(0.99) and not at_least.holds(0.98)
    within = verify.Contract(metric="eval/loss", target=2.0, bound="within", tolerance=0.05)
    assert within.holds(2.05) and within.holds(1.96) and not within.holds(2.06) and not within.holds(1.9)
    assert at_most.describe() == "eval/loss <= 1.92 at step 2000"
    assert within.describe() == "eval/loss = 2 ± 0.05"
    with pytest.raises(ValueError, match="choose one of at_most, at_least, within"):
        verify.Contract(metric="eval/loss", target=1.0, bound="below")
    with pytest.raises(ValueError, match="needs a tolerance > 0"):
        verify.Contract(metric="eval/loss", target=1.0, bound="within")


def write_metrics(workdir, records):
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "metrics.jsonl"), "a") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)


def test_verify_reads_a_finished_workdir_and_trains_only_when_the_step_is_missing(tiny_config, tmp_path, capsys):
    tiny_config.train.num_steps = 20
    contract = verify.Contract(metric="eval/loss", target=2.0, bound="at_most", step=10, source="a paper, Table 1")
    done = str(tmp_path / "done")
    write_metrics(done, [{"step": 10, "eval/loss": 1.5}, {"step": 20, "eval/loss": 2.5}])

    def must_not_train(config, workdir):
        raise AssertionError("trained again")

    assert verify.verify(tiny_config, done, contract, must_not_train)
    assert "PASS: eval/loss = 1.5000 (contract: eval/loss <= 2 at step 10; source: a paper, Table 1)" in (
        capsys.readouterr().out
    )
    last = verify.Contract(metric="eval/loss", target=2.0, bound="at_most")  # the run's last step: 20
    assert not verify.verify(tiny_config, done, last, must_not_train)
    assert "FAIL: eval/loss = 2.5000" in capsys.readouterr().out

    trained = []

    def fake_train(config, workdir):
        trained.append(workdir)
        write_metrics(workdir, [{"step": 10, "eval/loss": 1.0}])

    assert verify.verify(tiny_config, str(tmp_path / "new"), contract, fake_train) and len(trained) == 1
    with pytest.raises(ValueError, match="about step 30 but the run ends at train.num_steps=20"):
        verify.verify(tiny_config, done, verify.Contract(metric="eval/loss", target=1.0, step=30), must_not_train)
    with pytest.raises(ValueError, match="has no eval/bleu at step 10"):
        verify.verify(tiny_config, done, verify.Contract(metric="eval/bleu", target=1.0, step=10), fake_train)


def test_the_readme_table_is_the_experiment_files_contracts():
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    found = re.search(r"<!-- contracts -->\n(.*?)<!-- /contracts -->", readme, re.S)
    assert found, "README.md has no <!-- contracts --> section"
    assert found.group(1) == verify.table(os.path.join(ROOT, "experiments")), (
        "README's contracts table differs from the experiment files': paste the output of "
        'python -c \'from lm import verify; print(verify.table("experiments"), end="")\''
    )
