"""Bad input wherever a user gives it: a one-paragraph error naming the problem, a non-zero exit, no traceback,
and the workdir exactly as it was (every file's name and content checked before and after)."""

import hashlib
import json
import os
import shutil

import pytest

from lm import train
from tests import launcher

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE = f"--config={ROOT}/experiments/default.py:smoke"


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
    """A trained workdir (causal and masked), damaged copies of one, and the data files the cases name."""
    base = tmp_path_factory.mktemp("bad_input")
    config = request.getfixturevalue("module_config")
    train.train(config, str(base / "trained"))
    masked = config.copy_and_resolve_references()
    masked.objective = "masked"
    train.train(masked, str(base / "masked"))
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
    pickled = files / "hf_pickle"
    pickled.mkdir()
    (pickled / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    (pickled / "pytorch_model.bin").write_bytes(b"a pickle")
    return base


@pytest.fixture(scope="module")
def module_config():
    from lm.config import default_config, shrink_to_smoke

    c = shrink_to_smoke(default_config())
    c.data.synthetic_chars = 5_000
    c.sample.prompt = "cat"
    c.sample.max_new_tokens = 4
    return c


T, M, F, N = "{trained}", "{masked}", "{files}", "{new}"  # placeholders, filled per case
CASES = [  # (id, arguments, what the message must say)
    # the command line
    ("unknown key", ["--config.model.dmodel=64"], "unknown config key: dmodel Did you mean d_model"),
    ("float for an int", ["--config.train.num_steps=1.5"], "--config.train.num_steps=1.5"),
    ("no such experiment", ["--config=experiments/nope.py"], "the experiment file experiments/nope.py does not exist"),
    ("bad experiment argument", [f"{SMOKE[:-6]}:bogus"], "takes no argument or 'smoke', not 'bogus'"),
    ("unknown mode", ["--mode=fly"], "--mode"),
    ("the old --seed", ["--seed=1"], "seed"),
    ("a positional argument", ["extra"], "unexpected arguments ['extra']"),
    ("negative bench steps", ["--mode=bench", "--bench_steps=-1"], "--bench_steps=-1 must be >= 0"),
    # config values
    ("position choice", ["--config.model.position=alibi"], "model.position='alibi' choose one of learned"),
    ("cudnn on a CPU", ["--config.model.attention=cudnn"], "cuDNN's fused attention, for NVIDIA GPUs"),
    ("b2 of 1.5", ["--config.optim.b2=1.5"], r"optim.b2=1.5 must be in [0, 1)"),
    ("negative weight decay", ["--config.optim.weight_decay=-0.1"], "optim.weight_decay=-0.1 must be finite, >= 0"),
    ("infinite learning rate", ["--config.optim.learning_rate=inf"], "optim.learning_rate=inf must be finite"),
    ("zero learning rate", ["--config.optim.learning_rate=0"], "optim.learning_rate=0.0 must be finite and > 0"),
    ("zero eps", ["--config.optim.eps=0"], "optim.eps=0.0 must be finite and > 0"),
    ("batch of 0", ["--config.data.batch_size=0"], "data.batch_size=0 must be > 0"),
    ("dropout of 1", ["--config.model.dropout=1.0"], r"model.dropout=1.0 must be in [0, 1)"),
    ("micro-batches", ["--config.optim.grad_accum_steps=3"], "must divide into optim.grad_accum_steps=3"),
    ("context", ["--config.model.max_len=8"], "data.seq_len=16 must be <= model.max_len=8"),
    ("heads", ["--config.model.num_heads=3"], "must divide by model.num_heads=3"),
    ("nonfinite choice", ["--config.train.nonfinite=ignore"], "train.nonfinite='ignore' choose one of stop, skip"),
    ("unknown evaluator", ["--config.evals=blue"], "unknown evaluator 'blue'"),
    ("bleu of a language model", ["--config.evals=bleu"], "bleu scores targets decoded from sources"),
    ("hf tokenizer alone", ["--config.data.tokenizer=hf"], "set --config.data.tokenizer_path=DIR"),
    ("whole words of chars", ["--config.masking.whole_word=True"], "masking.whole_word=True needs word pieces"),
    ("tiny sentencepiece", ["--config.data.tokenizer=sentencepiece", "--config.data.vocab_size=10"], "too small"),
    # data files
    ("missing data", [f"--config.data.path={F}/nope.txt"], "does not exist"),
    ("empty data", [f"--config.data.path={F}/empty.txt"], "holds no text (empty file)"),
    ("text shorter than a window", [f"--config.data.path={F}/short.txt"], "fewer than one window"),
    ("binary data", [f"--config.data.path={F}/binary.txt"], "is not UTF-8 text"),
    ("latin-1 data", [f"--config.data.path={F}/latin1.txt"], "is not UTF-8 text"),
    ("no .txt in a directory", [f"--config.data.path={F}/no_text_here"], "is a directory with no .txt files"),
    ("a FIFO in a directory", [f"--config.data.path={F}/with_fifo"], "b.txt (in data.path="),
    ("a FIFO", [f"--config.data.path={F}/fifo.txt"], "fifo.txt' is a FIFO, not a regular file"),
    ("a device", ["--config.data.path=/dev/zero"], "data.path='/dev/zero' is a device, not a regular file"),
    ("labels: one value", ["--config.objective=classify", f"--config.data.path={F}/one_label.csv"], "at least 2"),
    (
        "labels: missing field",
        ["--config.objective=classify", f"--config.data.path={F}/labels.csv", "--config.data.label_field=stars"],
        "has no field(s) ['stars']",
    ),  # fmt: skip
    ("labels: format", ["--config.objective=classify", f"--config.data.path={F}/labels.xml"], "neither .csv"),
    (
        "pairs: missing field",
        ["--config.objective=seq2seq", f"--config.data.path={F}/pairs.tsv", "--config.data.target_field=german"],
        "has no field(s) ['german']",
    ),
    (
        "pairs: empty target",
        ["--config.objective=seq2seq", f"--config.data.path={F}/empty_target.jsonl"],
        "pair(s) with an empty source or target (the first at pair",
    ),
    ("pairs: a .csv", ["--config.objective=seq2seq", f"--config.data.path={F}/labels.csv"], "neither .tsv nor .jsonl"),
    ("pairs: too few", ["--config.objective=seq2seq", f"--config.data.path={F}/two_pairs.jsonl"], "split of"),
    ("hf_dataset without shards", [f"--config.data.hf_dataset={F}/nowhere"], "set --config.data.shards=DIR too"),
    ("prepare without shards", ["--mode=prepare", f"--config.data.path={F}/short.txt"], "set --config.data.shards"),
    (
        "a tokenizer path without a tokenizer",
        ["--config.data.tokenizer=hf", f"--config.data.tokenizer_path={F}/no_text_here"],
        "No tokenizer in",
    ),
    ("tags from a CSV", ["--config.objective=tag", f"--config.data.path={F}/labels.csv"], "Token labels need JSONL"),
    # workdirs and checkpoints
    ("eval without a checkpoint", [f"--workdir={N}", "--mode=eval"], "No checkpoint in"),
    ("a damaged workdir", ["--workdir={damaged}"], "is damaged: checkpoints should be a directory"),
    (
        "restore a step not saved",
        [f"--workdir={T}", "--mode=eval", "--config.train.restore=3"],
        "no checkpoint of step 3",
    ),
    ("restore: a word", ["--config.train.restore=first"], "choose latest, best or a step number"),
    ("a spike factor of 1", ["--config.train.spike_factor=1.0"], "must be > 1"),
    ("no steps skipped", ["--config.train.nonfinite=skip", "--config.train.max_skipped=0"], "must be > 0"),
    ("a process id alone", ["--num_processes=2", "--process_id=1"], "are set but not --coordinator_address"),
    (
        "a process id out of range",
        ["--coordinator_address=127.0.0.1:1", "--num_processes=2", "--process_id=2"],
        "--process_id=2 must be in 0 .. 1",
    ),
    (
        "a coordinator without a port",
        ["--coordinator_address=localhost", "--num_processes=2", "--process_id=0"],
        "HOST:PORT",
    ),
    ("another model", [f"--workdir={T}", "--config.model.d_model=64"], "d_model: 32 in the workdir, 64 now"),
    ("another tokenizer", [f"--workdir={T}", "--config.data.tokenizer=byte"], "trained with data.tokenizer='char'"),
    ("config.json not JSON", ["--workdir={bad_config}", "--mode=eval"], "config.json cannot be read as JSON"),
    ("no readable checkpoint", ["--workdir={unreadable}", "--mode=eval"], "can be read"),
    ("causal from an encoder", [f"--config.init_from={M}", f"--workdir={N}"], "is a bidirectional model"),
    ("init_from nowhere", [f"--config.init_from={F}/nowhere", f"--workdir={N}"], "neither a workdir"),
    ("init_from: only a config.json", [f"--config.init_from={F}/only_config"], "config.json but not its tokenizer"),
    ("init_from: no weights", [f"--config.init_from={F}/hf_no_weights"], "model.safetensors not found"),
    ("init_from: falcon", [f"--config.init_from={F}/hf_llama"], "model_type 'falcon'; the Hugging Face models we read"),
    ("init_from: a pickle", [f"--config.init_from={F}/hf_pickle"], "we do not unpickle PyTorch files"),
    # modes
    (
        "a prompt outside the vocabulary",
        [f"--workdir={T}", "--mode=sample", "--prompt=dog ©"],
        "--config.sample.prompt",
    ),
    ("too many new tokens", [f"--workdir={T}", "--mode=sample", "--max_new_tokens=100"], "longer than the model's"),
    ("an empty prompt", [f"--workdir={T}", "--mode=sample", "--prompt="], "The prompt is empty"),
    ("no beams", [f"--workdir={T}", "--mode=sample", "--num_beams=0"], "sample.num_beams=0 must be >= 1"),
    (
        "more samples than beams",
        [f"--workdir={T}", "--mode=sample", "--num_beams=2", "--num_samples=3"],
        "sample.num_samples=3 must be <= sample.num_beams=2",
    ),  # fmt: skip
    ("sampling an encoder", [f"--workdir={M}", "--config.objective=masked", "--mode=sample"], "needs a causal model"),
    (
        "beams from an encoder",
        [f"--workdir={M}", "--config.objective=masked", "--mode=sample", "--num_beams=2"],
        "needs a causal model",
    ),
    ("score without text", [f"--workdir={T}", "--mode=score"], "exactly one of --text"),
    ("score a missing file", [f"--workdir={T}", "--mode=score", f"--text_file={F}/nope.txt"], "does not exist"),
    ("score a non-UTF-8 file", [f"--workdir={T}", "--mode=score", f"--text_file={F}/not_utf8_prompt.txt"], "UTF-8"),
    ("export without --out", [f"--workdir={T}", "--mode=export"], "--mode=export needs --out=DIR"),
    ("get_sweep raising", [f"--config={F}/raising.py", "--mode=sweep"], "get_sweep('') raised IndexError"),
    ("a sweep.json without its index", [f"--workdir={F}/sweep_damaged", "--mode=collate"], "has no index"),
    ("hellaswag without its file", [f"--workdir={T}", "--mode=harness", "--tasks=hellaswag_local"], "--hellaswag=FILE"),
    ("export onto a file", [f"--workdir={T}", "--mode=export", f"--out={F}/existing_file"], "is a file"),
    ("export where nothing can be written", [f"--workdir={T}", "--mode=export", "--out=/proc/lm_out"], "Cannot write"),
]


@pytest.mark.parametrize("args,needle", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_error_and_changes_nothing(place, args, needle, tmp_path):
    names = {name: str(place / name) for name in ("trained", "masked", "files", "bad_config", "unreadable", "damaged")}
    names["new"] = str(tmp_path / "new")
    args = [a.format(**names) for a in args]
    if not any(a.startswith("--config=") for a in args):
        args = [SMOKE, *args]
    if not any(a.startswith("--workdir=") for a in args):
        args.append(f"--workdir={names['new']}")
    before = {
        name: checksum(place / name) for name in ("trained", "masked", "bad_config", "unreadable", "files", "damaged")
    }
    result = launcher.launch(*args, cwd=tmp_path, timeout=300)
    assert result.returncode != 0, result.stdout[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert needle in result.stderr, result.stderr[-2000:]
    message = result.stderr.strip().splitlines()
    assert len(message) <= 4, result.stderr  # one paragraph (absl's flag errors take a second line)
    assert {name: checksum(place / name) for name in before} == before
    assert not os.path.exists(names["new"]) and not os.path.exists(tmp_path / "workdirs")


def test_the_matrix_is_broad():
    assert len(CASES) >= 40


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
