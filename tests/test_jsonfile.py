"""One JSON reader: a broken file (not JSON, not UTF-8, the wrong type, a missing field) is an error that names
the file and the fix, through each loader of a workdir's files and of a Hugging Face directory."""

import json
import os

import pytest

from lm import jsonfile, sweep, workdir_files
from lm.convert import hf_common
from lm.data import labelled, tokenizers


def test_read_returns_the_value_and_refuses_what_is_not_one(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('{"kind": "char", "chars": "ab"}')
    assert jsonfile.read(str(path), "Fix it.") == {"kind": "char", "chars": "ab"}
    path.write_text("[1, 2]")
    assert jsonfile.read(str(path), "Fix it.", kind=list) == [1, 2]
    with pytest.raises(ValueError, match=r"a.json holds a JSON list, not a JSON object\. Fix it\.$"):
        jsonfile.read(str(path), "Fix it.")
    path.write_text('{"kind": ')
    with pytest.raises(ValueError, match=r"a.json cannot be read as JSON \(Expecting value.*\)\. Fix it\.$"):
        jsonfile.read(str(path), "Fix it.")
    path.write_bytes(b'{"chars": "\xff"}')
    with pytest.raises(ValueError, match=r"a.json cannot be read as JSON \(.*utf-8.*\)\. Fix it\.$"):
        jsonfile.read(str(path), "Fix it.")
    with pytest.raises(ValueError, match=r"missing.json cannot be read as JSON \(.*No such file"):
        jsonfile.read(str(tmp_path / "missing.json"), "Fix it.")
    with pytest.raises(ValueError, match=r"a.json has no 'kind' \(it has \['chars'\]\)\. Fix it\.$"):
        jsonfile.field({"chars": "ab"}, "kind", str(path), "Fix it.")


WORKDIR_FIX = "move the workdir aside and train in a fresh --workdir"
LOADERS = {  # file -> (what reads it, the fix its error names)
    "lm_tokenizer.json": (tokenizers.load, WORKDIR_FIX),
    "tokenizer.json": (tokenizers.load, WORKDIR_FIX),  # its name in workdirs made before 2026-12-07
    "labels.json": (labelled.load_labels, WORKDIR_FIX),
    "config.json": (workdir_files.read_config, WORKDIR_FIX),
}


@pytest.mark.parametrize("name", sorted(LOADERS))
@pytest.mark.parametrize("content", ["{not json", '"a string"'])
def test_a_broken_workdir_file_names_itself_and_the_fix(tmp_path, name, content):
    load, fix = LOADERS[name]
    (tmp_path / name).write_text(content)
    with pytest.raises(ValueError) as info:
        load(str(tmp_path))
    assert str(tmp_path / name) in str(info.value) and fix in str(info.value)


def test_a_tokenizer_without_its_kind_or_fields_names_what_is_missing(tmp_path):
    (tmp_path / "lm_tokenizer.json").write_text(json.dumps({"chars": "ab"}))
    with pytest.raises(ValueError, match=r"lm_tokenizer.json has no 'kind'.*fresh --workdir"):
        tokenizers.load(str(tmp_path))
    (tmp_path / "lm_tokenizer.json").write_text(json.dumps({"kind": "char"}))
    with pytest.raises(ValueError, match=r"lm_tokenizer.json has no 'chars'"):
        tokenizers.load(str(tmp_path))
    (tmp_path / "lm_tokenizer.json").write_text(json.dumps({"kind": "wordpiece"}))
    with pytest.raises(ValueError, match=r"unknown tokenizer kind 'wordpiece'"):
        tokenizers.load(str(tmp_path))


def test_a_broken_sweep_status_and_hugging_face_config_name_themselves(tmp_path):
    os.makedirs(tmp_path / "seed=0")
    (tmp_path / "seed=0" / "sweep.json").write_text("{")
    with pytest.raises(ValueError, match=r"seed=0/sweep.json cannot be read as JSON.*--mode=sweep runs the variant"):
        sweep.read_statuses(str(tmp_path))
    (tmp_path / "config.json").write_text("[]")
    with pytest.raises(ValueError, match=r"config.json holds a JSON list.*Download it again"):
        hf_common.read_json(str(tmp_path / "config.json"))
