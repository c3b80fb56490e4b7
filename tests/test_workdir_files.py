"""A workdir's own files: the resolved config, written atomically; one workdir holds one model."""

import json
import os
import shutil

import numpy as np
import pytest

from lm import config as config_lib
from lm import train, workdir_files


def snapshot(workdir):
    """Every file's size and modification time."""
    out = {}
    for root, _, files in os.walk(workdir):
        for f in files:
            st = os.stat(os.path.join(root, f))
            out[os.path.join(root, f)] = (st.st_size, st.st_mtime_ns)
    return out


def test_workdir_of_another_model_is_refused_and_left_intact(tiny_config, tmp_path):
    workdir = str(tmp_path / "run")
    train.train(tiny_config, workdir)
    before = snapshot(workdir)
    other = tiny_config.copy_and_resolve_references()
    other.model.d_model = 64
    with pytest.raises(ValueError, match="different model.*d_model: 32 in the workdir, 64 now"):
        train.train(other, workdir)
    assert snapshot(workdir) == before
    # how the step computes may change on resume: remat and the attention implementation
    resumed = tiny_config.copy_and_resolve_references()
    resumed.model.remat, resumed.model.attention = "full", "xla"
    resumed.train.num_steps += 2
    assert np.isfinite(train.train(resumed, workdir)["eval/loss"])


def test_config_round_trips_and_only_how_fields_may_differ(tmp_path):
    config = config_lib.resolve(config_lib.default_config(), vocab_size=30)
    assert workdir_files.read_config(str(tmp_path)) is None
    workdir_files.write_config(config, str(tmp_path))
    assert os.listdir(tmp_path) == ["config.json"]  # no temporary file left behind
    saved = workdir_files.read_config(str(tmp_path))
    assert saved == json.loads(config.to_json())
    workdir_files.check_same_model(config, saved, str(tmp_path))
    changed = config.copy_and_resolve_references()
    changed.model.remat, changed.model.attention = "dots", "xla"  # HOW: allowed
    workdir_files.check_same_model(changed, saved, str(tmp_path))
    changed.model.scan_layers = True  # the checkpoint's layout: refused
    with pytest.raises(ValueError, match="model.scan_layers: False in the workdir, True now"):
        workdir_files.check_same_model(changed, saved, str(tmp_path))
    other = config.copy_and_resolve_references()
    other.data.tokenizer = "byte"
    with pytest.raises(ValueError, match="trained with data.tokenizer='char', not 'byte'"):
        workdir_files.check_same_tokenizer(other, saved, str(tmp_path))


def test_the_lock_is_held_by_one_run_and_an_unwritable_workdir_is_named(tmp_path):
    first, second = workdir_files.Lock(str(tmp_path)), workdir_files.Lock(str(tmp_path))
    first.acquire()
    with pytest.raises(ValueError, match=rf"in use by a training run \(process {os.getpid()} on "):
        second.acquire()
    first.release()
    second.acquire()  # free again
    second.release()
    (tmp_path / "a_file").write_text("")
    with pytest.raises(ValueError, match="Cannot write to the workdir .*a_file"):
        workdir_files.Lock(str(tmp_path / "a_file")).acquire()


def test_a_config_json_that_is_not_a_run_config_is_named(tmp_path):
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="config.json holds a JSON list, not a JSON object.*fresh --workdir"):
        workdir_files.read_config(str(tmp_path))
    (tmp_path / "config.json").write_bytes(b"\xff\xfe")
    with pytest.raises(ValueError, match="config.json cannot be read as JSON.*fresh --workdir"):
        workdir_files.read_config(str(tmp_path))
    (tmp_path / "config.json").write_text('{"model": 3}')
    with pytest.raises(ValueError, match="config.json is not the config of a run"):
        workdir_files.read_config(str(tmp_path))


@pytest.mark.parametrize("entry", ["checkpoints", "metrics.jsonl", "config.json", "harness_tasks"])
def test_a_damaged_workdir_is_refused_and_left_as_it_is(tiny_config, tmp_path, entry):
    """An entry of the wrong kind (checkpoints/ a file: "no checkpoint" would restart the run over its
    record) is refused by every mode before anything is written."""
    from lm.modes import evaluate, harness

    workdir = tmp_path / "run"
    train.train(tiny_config, str(workdir))
    path = workdir / entry
    if workdir_files.STRUCTURE[entry] == "directory":  # made a file
        shutil.rmtree(path, ignore_errors=True)
        path.write_text("")
    else:  # made a directory
        path.unlink()
        path.mkdir()
    before = snapshot(str(workdir))
    for act in (train.train, evaluate.evaluate, lambda c, w: harness.harness(c, w, ["heldout_continuation"])):
        with pytest.raises(ValueError, match=f"is damaged: {entry} should be a"):
            act(tiny_config, str(workdir))
        assert snapshot(str(workdir)) == before


def test_a_resume_with_another_optimizer_structure_names_the_changed_field(tiny_config, tmp_path):
    workdir = str(tmp_path / "run")
    train.train(tiny_config, workdir)
    before = snapshot(workdir)
    unclipped = tiny_config.copy_and_resolve_references()
    unclipped.optim.grad_clip, unclipped.train.num_steps = 0.0, 6
    with pytest.raises(
        ValueError, match=r"does not fit this run's optimizer: optim.grad_clip: 1.0 then, 0.0 now\. Resume"
    ):
        train.train(unclipped, workdir)
    assert snapshot(workdir) == before
