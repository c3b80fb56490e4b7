"""Sweeps: expansion into named variants, index selection, overrides, skipping finished variants, failures
recorded while the others run; and the launcher's sweep / collate / verify modes end to end."""

import json
import os

import pytest

from lm import experiment, sweep, train
from tests import launcher

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_grid_crosses_the_axes_with_seeds_fastest_and_names_each_variant_by_its_overrides():
    variants = sweep.expand(experiment.grid({"model.position": ["learned", "rotary"], "optim.learning_rate": [1e-3]},
                                       seeds=[0, 1]))  # fmt: skip
    assert [v.name for v in variants] == [
        "model.position=learned,optim.learning_rate=0.001,seed=0",
        "model.position=learned,optim.learning_rate=0.001,seed=1",
        "model.position=rotary,optim.learning_rate=0.001,seed=0",
        "model.position=rotary,optim.learning_rate=0.001,seed=1",
    ]
    assert [v.index for v in variants] == [0, 1, 2, 3]
    assert sweep.expand([{"data.path": "a/b.txt"}])[0].name == "data.path=a_b.txt"  # one directory level
    # 300 characters: cut to a file name's room, the whole kept apart by a hash
    long = sweep.expand([{"sample.prompt": "é" * 150}, {"sample.prompt": "é" * 149 + "e"}])
    assert all(len(v.name.encode()) <= 200 and "..." in v.name for v in long) and long[0].name != long[1].name


@pytest.mark.parametrize(
    "bad,message",
    [([], "non-empty list"), ([{"seed": 0}, {"seed": 0}], "more than once"), ([{"seed": 0}, 3], "variant 1 is 3")],
)
def test_a_malformed_sweep_is_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        sweep.expand(bad)


def test_an_index_or_a_slurm_array_task_selects_one_variant():
    variants = sweep.expand(experiment.grid({"model.position": ["learned", "rotary"]}, seeds=[0, 1]))
    assert sweep.select(variants, None, environ={}) == variants
    assert sweep.select(variants, 2, environ={})[0].name == "model.position=rotary,seed=0"
    assert sweep.select(variants, None, environ={"SLURM_ARRAY_TASK_ID": "3"})[0].index == 3
    assert sweep.select(variants, 1, environ={"SLURM_ARRAY_TASK_ID": "3"})[0].index == 1  # the flag wins
    with pytest.raises(ValueError, match=r"--sweep_index=4 is out of range: this sweep has 4 variants.*--array=0-3"):
        sweep.select(variants, 4, environ={})


def test_overrides_are_set_with_their_types_checked(tiny_config):
    c = sweep.apply(tiny_config, {"model.position": "rotary", "optim.learning_rate": 2, "seed": 3})
    assert (c.model.position, c.optim.learning_rate, c.seed) == ("rotary", 2.0, 3)
    assert tiny_config.model.position == "learned"  # a copy
    with pytest.raises(ValueError, match="names no config field"):
        sweep.apply(tiny_config, {"model.dmodel": 3})
    with pytest.raises(ValueError, match="wrong type"):
        sweep.apply(tiny_config, {"train.num_steps": "many"})


def test_a_failing_variant_is_recorded_the_others_run_and_finished_ones_are_skipped(tiny_config, tmp_path):
    tiny_config.train.num_steps = 2
    variants = sweep.expand([{"seed": 0}, {"model.position": "alibi"}, {"seed": 1}])
    statuses = sweep.run(tiny_config, str(tmp_path), variants, train.train)
    assert [s["status"] for s in statuses] == ["done", "failed", "done"]
    assert "model.position='alibi' choose one of" in statuses[1]["error"]
    assert statuses[0]["parameters"] > 0 and statuses[0]["tokens_seen"] == 2 * 8 * 16  # steps x batch x length
    assert "2 of 3 variants done" in sweep.summary(statuses)
    on_disk = json.loads((tmp_path / "model.position=alibi" / "sweep.json").read_text())
    assert on_disk["status"] == "failed" and on_disk["overrides"] == {"model.position": "alibi"}

    def must_not_train(config, workdir):
        raise AssertionError(f"trained {workdir} again")

    again = sweep.run(tiny_config, str(tmp_path), [variants[0], variants[2]], must_not_train)
    assert [s["status"] for s in again] == ["done", "done"]  # finished: skipped, their facts kept
    assert again[0]["parameters"] == statuses[0]["parameters"]
    assert [s["name"] for s in sweep.read_statuses(str(tmp_path))] == ["seed=0", "model.position=alibi", "seed=1"]


EXPERIMENT = """
from lm.config import default_config, shrink_to_smoke
from lm.experiment import Contract


def get_config(arg="smoke"):
    c = shrink_to_smoke(default_config())
    c.data.synthetic_chars = 5_000
    c.sample.prompt, c.sample.max_new_tokens = "cat", 4
    return c


def get_sweep(arg="smoke"):
    return [{"seed": 0}, {"seed": 1}, {"model.position": "rotary", "seed": 0}, {"model.num_heads": 3}]


CONTRACTS = {
    "smoke": Contract(metric="eval/loss", target=100.0, bound="at_most", source="any model beats 100 nats"),
    "strict": Contract(metric="eval/loss", target=0.01, bound="at_most", step=4, source="no model of 4 steps"),
    "both": [Contract(metric="eval/loss", target=100.0), Contract(metric="eval/loss", target=0.01, step=4)],
}
"""


def launch(*args, cwd):
    return launcher.launch(*args, cwd=cwd)


def test_the_launcher_sweeps_collates_and_verifies(tmp_path):
    (tmp_path / "exp.py").write_text(EXPERIMENT)
    swept = launch(f"--config={tmp_path}/exp.py:smoke", "--mode=sweep", "--workdir=sw", cwd=tmp_path)
    assert swept.returncode == 1, swept.stderr  # one variant fails
    assert "sweep: 3 of 4 variants done" in swept.stdout and "FAILED model.num_heads=3: ValueError" in swept.stdout
    assert sorted(os.listdir(tmp_path / "sw")) == ["model.num_heads=3", "model.position=rotary,seed=0", "seed=0",
                                                   "seed=1"]  # fmt: skip
    one = launch(f"--config={tmp_path}/exp.py:smoke", "--mode=sweep", "--workdir=sw", "--sweep_index=1", cwd=tmp_path)
    assert one.returncode == 0 and "seed=1: finished before, skipped" in one.stdout and "sweep: 1 of 1" in one.stdout

    collated = launch(f"--config={tmp_path}/exp.py:smoke", "--mode=collate", "--workdir=sw", cwd=tmp_path)
    assert collated.returncode == 0, collated.stderr
    table = (tmp_path / "sw" / "results.md").read_text()
    assert "| model.position | n |" in table and "| learned | 2 |" in table and "| rotary | 1 |" in table
    assert "model.num_heads=3: ValueError" in table
    assert (tmp_path / "sw" / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    by_accuracy = launch(
        f"--config={tmp_path}/exp.py:smoke", "--mode=collate", "--workdir=sw", "--metric=eval/accuracy", cwd=tmp_path
    )
    assert by_accuracy.returncode == 0, by_accuracy.stderr
    assert "eval/accuracy" in (tmp_path / "sw" / "results.md").read_text() and "eval/accuracy" not in table
    compared = launch(f"--config={tmp_path}/exp.py:smoke", "--mode=compare", "--workdir=sw/seed=0",
                      "--compare_to=sw/seed=1", cwd=tmp_path)  # fmt: skip
    assert compared.returncode == 0 and "seed" in compared.stdout and "eval/loss" in compared.stdout, compared.stderr

    passed = launch(f"--config={tmp_path}/exp.py:smoke", "--mode=verify", "--workdir=sw/seed=0", cwd=tmp_path)
    assert passed.returncode == 0 and "PASS: eval/loss = " in passed.stdout, passed.stderr
    assert "contract: eval/loss <= 100; source: any model beats 100 nats" in passed.stdout
    failed = launch(f"--config={tmp_path}/exp.py:strict", "--mode=verify", "--workdir=sw/seed=0", cwd=tmp_path)
    assert failed.returncode == 1 and "FAIL: eval/loss = " in failed.stdout
    assert "eval at step" not in failed.stdout  # read from the finished workdir, not trained again
    both = launch(f"--config={tmp_path}/exp.py:both", "--mode=verify", "--workdir=sw/seed=0", cwd=tmp_path)
    assert both.returncode == 1 and "PASS: eval/loss" in both.stdout and "FAIL: eval/loss" in both.stdout  # all hold
    none = launch(f"--config={tmp_path}/exp.py:other", "--mode=verify", "--workdir=sw/x", cwd=tmp_path)
    assert none.returncode == 1 and "declares no reproduction contract" in none.stderr
    assert "exp.py:smoke, " in none.stderr and not os.path.exists(tmp_path / "sw" / "x")
