"""Bad input wherever a user gives it: a one-paragraph error naming the problem, a non-zero exit, no traceback,
and the workdir exactly as it was (every file's name and content checked before and after)."""

import hashlib
import json
import os
import shutil

import pytest

from lm import experiment, train
from lm.modes import MODES
from tests import launcher
from tests.bad_input import ROOT, SMOKE, inputs, modes

PLACES = ("trained", "masked", "s2s", "gru", "files", "bad_config", "unreadable", "damaged")


def checksum(path) -> str:
    """One hash of every file under `path`: its relative name and its bytes."""
    digest = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(path)):
        dirs.sort()
        for name in sorted(files):
            file = os.path.join(root, name)
            digest.update(os.path.relpath(file, path).encode())
            if os.path.isfile(file):  # a FIFO would block the read: its name is enough
                with open(file, "rb") as f:
                    digest.update(f.read())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def place(tmp_path_factory, request):
    """Trained workdirs (causal, masked, encoder-decoder and GRU), damaged copies of one, and the data files the
    cases name."""
    base = tmp_path_factory.mktemp("bad_input")
    config = request.getfixturevalue("module_config")
    train.train(config, str(base / "trained"))
    masked = config.copy_and_resolve_references()
    masked.objective = "masked"
    train.train(masked, str(base / "masked"))
    s2s = experiment.load(f"{ROOT}/experiments/seq2seq_tasks.py").get_config("smoke")
    train.train(s2s, str(base / "s2s"))
    s2s.model.family = "gru"
    train.train(s2s, str(base / "gru"))
    shutil.copytree(base / "trained", base / "bad_config")
    (base / "bad_config" / "config.json").write_text("{ not json")
    shutil.copytree(base / "trained", base / "damaged")
    shutil.rmtree(base / "damaged" / "checkpoints")
    (base / "damaged" / "checkpoints").write_text("")  # read as "no checkpoint", it would restart over the record
    shutil.copytree(base / "trained", base / "unreadable")
    for root, _, files in os.walk(base / "unreadable" / "checkpoints"):
        for name in files:
            if os.sep + "d" in root or name == "_METADATA":
                open(os.path.join(root, name), "r+b").truncate(0)
    files = base / "files"
    files.mkdir()
    (files / "empty.txt").write_text("")
    (files / "short.txt").write_text("to be or not")
    (files / "binary.txt").write_bytes(bytes(range(256)) * 40)
    (files / "latin1.txt").write_bytes("café au lait, ".encode("latin-1") * 500)
    (files / "no_text_here").mkdir()
    (files / "no_text_here" / "notes.md").write_text("not a .txt")
    (files / "with_fifo").mkdir()
    (files / "with_fifo" / "a.txt").write_text("the cat sat on the mat\n" * 200)
    os.mkfifo(files / "with_fifo" / "b.txt")
    os.mkfifo(files / "fifo.txt")
    (files / "labels.csv").write_text("text,label\n" + "".join(f"row {i},{i % 2}\n" for i in range(40)))
    (files / "one_label.csv").write_text("text,label\n" + "".join(f"row {i},same\n" for i in range(40)))
    (files / "labels.xml").write_text("<rows/>")
    (files / "pairs.tsv").write_text("source\ttarget\n" + "".join(f"ab{i}\t{i}ba\n" for i in range(40)))
    (files / "two_pairs.jsonl").write_text("".join(json.dumps({"source": s, "target": s[::-1]}) + "\n" for s in "ab"))
    (files / "empty_target.jsonl").write_text(
        "".join(json.dumps({"source": f"s{i}", "target": f"t{i}" * (i != 7)}) + "\n" for i in range(40))
    )
    (files / "not_utf8_prompt.txt").write_bytes(b"\xff\xfe to be")
    (files / "existing_file").write_text("")
    hf = files / "hf_no_weights"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_embd": 8}))
    llama = files / "hf_llama"
    llama.mkdir()
    (llama / "config.json").write_text(json.dumps({"model_type": "falcon"}))
    (llama / "model.safetensors").write_bytes(b"")
    (files / "raising.py").write_text(
        "from lm.config import default_config, shrink_to_smoke\n"
        "def get_config(arg=''):\n    return shrink_to_smoke(default_config())\n"
        "def get_sweep(arg=''):\n    return [{'seed': s} for s in range(2)][5]\n"
    )
    (files / "sweep_damaged" / "seed=0").mkdir(parents=True)
    (files / "sweep_damaged" / "seed=0" / "sweep.json").write_text('{"name": "seed=0"}')
    (files / "only_config").mkdir()
    shutil.copy(base / "trained" / "config.json", files / "only_config" / "config.json")
    shutil.copytree(base / "trained", files / "config_list")
    (files / "config_list" / "config.json").write_text("[1, 2]")
    _write_files(files)
    pickled = files / "hf_pickle"
    pickled.mkdir()
    (pickled / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    (pickled / "pytorch_model.bin").write_bytes(b"a pickle")
    return base


def _write_files(files) -> None:
    """The data, experiment and workdir files of the cases of the later modes and families."""
    pairs = [json.dumps({"source": f"s{i}", "target": f"t{i}"}) + "\n" for i in range(30)]
    written = {
        "pairs_array.jsonl": "".join(pairs) + "[1, 2]\n",
        "pairs_cut.jsonl": "".join(pairs) + '{"source": "s\n',
        "labels_ab.csv": "text,label\n" + "".join(f"row {'ab'[i % 2]},{i % 2}\n" for i in range(40)),
        "labels_short_row.csv": "text,label\n" + "".join(f"row {'ab'[i % 2]},{i % 2}\n" for i in range(40)) + "row\n",
        "labels_header_only.csv": "text,label\n",
        "tags_mismatch.jsonl": json.dumps({"tokens": ["a", "b"], "tags": ["X"]}) + "\n",
        "tags.jsonl": json.dumps({"tokens": ["a", "b"], "tags": ["X", "Y"]}) + "\n",
        "docs.jsonl": "".join(json.dumps({"body": f"doc {i} " * 20}) + "\n" for i in range(30)),
        "docs_array.jsonl": "[1, 2]\n" * 5,
        "bad.parquet": "not parquet",
        "tok_bad/tokenizer.json": "{ not json",
        "tok_empty/tokenizer.json": json.dumps({"model": {"type": "BPE", "vocab": {}, "merges": []}}),
        "empty_dir/.keep": "",
        "shards_empty/.keep": "",
        "hellaswag_bad.jsonl": "{ no\n",
        "text.txt": "the cat sat on the mat. " * 200,
        "hf_dir/config.json": json.dumps(
            {"model_type": "gpt2", "n_embd": 8, "n_layer": 1, "n_head": 2, "n_positions": 16, "vocab_size": 50}
        ),
        "hf_dir/model.safetensors": "garbage",
        "sweep_cut/seed=0/sweep.json": '{"name": "seed=0", "ind',
    }
    status = json.dumps({"index": 0, "name": "seed=0", "overrides": {"seed": 0}, "status": "done"})
    for sweep, metrics in (("sweep_ok", '{"step": 2, "eval/loss": 1.0}\n'), ("sweep_metrics_cut", CUT_METRICS)):
        written[f"{sweep}/seed=0/sweep.json"] = status
        written[f"{sweep}/seed=0/metrics.jsonl"] = metrics
    header = "from lm.config import default_config, shrink_to_smoke\n"
    header += "def get_config(arg=''):\n    return shrink_to_smoke(default_config())\n"
    for name, body in (
        ("nosweep.py", header),
        ("sweep_list.py", header + "def get_sweep(arg=''):\n    return {'seed': [0, 1]}\n"),
        ("sweep_badkey.py", header + "def get_sweep(arg=''):\n    return [{'model.nope': 1}]\n"),
        ("sweep_empty.py", header + "def get_sweep(arg=''):\n    return []\n"),
        ("returns_none.py", "def get_config(arg=''):\n    return None\n"),
        ("syntax_error.py", "def get_config(arg=''):\n    return (\n"),
        ("no_get_config.py", "x = 1\n"),
        ("import_error.py", "import nonexistent_module_xyz\n"),
    ):
        written[name] = body
    for name, text in written.items():
        (files / name).parent.mkdir(parents=True, exist_ok=True)
        (files / name).write_text(text)


CUT_METRICS = '{"step": 2, "train/loss": 1.0}\n{"step": 4, "train/lo\n{"step": 6, "train/loss": 1.0}\n'


@pytest.fixture(scope="module")
def launched():
    """The cases' launcher: each case is launch.py run in a process of its own (tests/launcher.py's Launcher)."""
    server = launcher.Launcher(env={"HF_HUB_OFFLINE": "1"})  # no case reaches the network: a Hub name fails at once
    yield server
    server.close()


@pytest.fixture(scope="module")
def module_config():
    from lm.config import default_config, shrink_to_smoke

    c = shrink_to_smoke(default_config())
    c.data.synthetic_chars = 5_000
    c.sample.prompt = "cat"
    c.sample.max_new_tokens = 4
    return c


CASES = inputs.CASES + modes.CASES  # (id, arguments, what the message must say)


@pytest.mark.parametrize("args,needle", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_error_and_changes_nothing(place, launched, args, needle, tmp_path):
    names = {name: str(place / name) for name in PLACES}
    names["new"] = str(tmp_path / "new")
    args = [a.format(**names) for a in args]
    if not any(a.startswith("--config=") for a in args):
        args = [SMOKE, *args]
    if not any(a.startswith("--workdir=") for a in args):
        args.append(f"--workdir={names['new']}")
    before = {name: checksum(place / name) for name in PLACES}
    result = launched.launch(*args, cwd=tmp_path, timeout=300)
    assert result.returncode != 0, result.stdout[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert needle in result.stderr, result.stderr[-2000:]
    message = result.stderr.strip().splitlines()
    assert len(message) <= 4, result.stderr  # one paragraph (absl's flag errors take a second line)
    assert {name: checksum(place / name) for name in before} == before
    assert not os.path.exists(names["new"]) and not os.path.exists(tmp_path / "workdirs")


def test_the_matrix_is_broad():
    """At least 150 cases, over every mode and every family."""
    assert len(CASES) >= 150
    assert len({c[0] for c in CASES}) == len(CASES)
    modes = {a.split("=", 1)[1] for c in CASES for a in c[1] if a.startswith("--mode=")}
    assert modes | {"train"} >= set(MODES)
    every_argument = " ".join(a for c in CASES for a in c[1])
    assert "{s2s}" in every_argument and "{gru}" in every_argument  # trained encoder-decoder and GRU workdirs


def test_no_loader_unpickles_a_file():
    """Checkpoints are orbax's, weights safetensors, caches numpy without pickles: nothing runs code from a file."""
    import pathlib
    import re

    risky = re.compile(r"\bpickle\b|torch\.load|allow_pickle\s*=\s*True|\bjoblib\b|\bdill\b")
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in pathlib.Path(ROOT, "lm").rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if risky.search(line) and "do not unpickle" not in line
    ]
    assert found == []
