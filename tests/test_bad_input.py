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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE = f"--config={ROOT}/experiments/default.py:smoke"
S2S = f"--config={ROOT}/experiments/seq2seq_tasks.py:smoke"
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


PREPARE = ["--mode=prepare", "--config.data.shards={new}/shards"]
T, M, S, G, F, N = "{trained}", "{masked}", "{s2s}", "{gru}", "{files}", "{new}"  # placeholders, filled per case
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
    ("a prompt file missing", [f"--workdir={T}", "--mode=sample", f"--prompt_file={F}/nope.txt"], "does not exist"),
    (
        "a prompt file without prompts",
        [f"--workdir={T}", "--mode=sample", f"--prompt_file={F}/docs.jsonl", f"--out={N}.jsonl"],
        "docs.jsonl, line 1, has no text field prompt (or source)",
    ),
    (
        "a prompt and a prompt file",
        [f"--workdir={T}", "--mode=sample", "--prompt=cat", f"--prompt_file={F}/text.txt"],
        "--prompt and --prompt_file are both given",
    ),
    ("samples into a directory", [f"--workdir={T}", "--mode=sample", f"--out={F}/empty_dir"], "is a directory"),
    ("a profile without its length", ["--profile=5"], "train.profile='5' must be START:NUM_STEPS"),
    ("a negative --step", [f"--workdir={T}", "--mode=eval", "--step=-1"], "--step=-1 must be a step number >= 0"),
    ("a --step not saved", [f"--workdir={T}", "--mode=sample", "--step=3"], "no checkpoint of step 3"),
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
    # every mode's flags and every family's inputs
    (
        "sample: negative temperature",
        [f"--workdir={T}", "--mode=sample", "--temperature=-1"],
        "sample.temperature=-1.0 must be >= 0",
    ),
    (
        "sample: nan temperature",
        [f"--workdir={T}", "--mode=sample", "--temperature=nan"],
        "sample.temperature=nan must be >= 0",
    ),
    ("sample: top_p 0", [f"--workdir={T}", "--mode=sample", "--top_p=0"], "sample.top_p=0.0 must be in (0, 1]"),
    ("sample: top_p 1.5", [f"--workdir={T}", "--mode=sample", "--top_p=1.5"], "sample.top_p=1.5 must be in (0, 1]"),
    ("sample: top_k -1", [f"--workdir={T}", "--mode=sample", "--top_k=-1"], "sample.top_k=-1 must be >= 0 (0 is off)"),
    (
        "sample: repetition penalty 0",
        [f"--workdir={T}", "--mode=sample", "--repetition_penalty=0"],
        "sample.repetition_penalty=0.0 must be > 0 (1 is off)",
    ),
    ("sample: 0 samples", [f"--workdir={T}", "--mode=sample", "--num_samples=0"], "sample.num_samples=0 must be > 0"),
    (
        "sample: 0 new tokens",
        [f"--workdir={T}", "--mode=sample", "--max_new_tokens=0"],
        "sample.max_new_tokens=0 must be > 0",
    ),
    (
        "sample: nan length penalty",
        [f"--workdir={T}", "--mode=sample", "--num_beams=2", "--length_penalty=nan"],
        "sample.length_penalty=nan must be >= 0",
    ),
    (
        "sample: empty stop",
        [f"--workdir={T}", "--mode=sample", "--stop="],
        "sample.stop=('',) holds an empty string, which would end every sample at once",
    ),
    (
        "sample: no checkpoint",
        ["--mode=sample", f"--workdir={N}"],
        "Train first (--mode=train) with this --workdir, or name a pretrained model with",
    ),
    (
        "bench_generate: batch 0",
        ["--mode=bench_generate", "--bench_batch_sizes=0", "--bench_prompt_len=4", "--bench_new_tokens=4"],
        "--bench_batch_sizes=0 must be whole numbers >= 1, e.g. 1,8",
    ),
    (
        "bench_generate: batch a word",
        ["--mode=bench_generate", "--bench_batch_sizes=1,a", "--bench_prompt_len=4", "--bench_new_tokens=4"],
        "--bench_batch_sizes=1,a must be whole numbers >= 1, e.g. 1,8",
    ),
    (
        "bench_generate: prompt 0",
        ["--mode=bench_generate", "--bench_prompt_len=0"],
        "--bench_prompt_len=0 must be >= 1",
    ),
    (
        "bench_generate: too long",
        ["--mode=bench_generate", "--bench_prompt_len=10", "--bench_new_tokens=100"],
        "--bench_prompt_len=10 plus --bench_new_tokens=100 is longer than the model's",
    ),
    (
        "bench: a masked model",
        ["--mode=bench_generate", "--config.objective=masked", "--bench_prompt_len=4", "--bench_new_tokens=4"],
        "--mode=bench_generate times generation, which runs left to right and needs a",
    ),
    (
        "harness: no tasks",
        [f"--workdir={T}", "--mode=harness", "--tasks="],
        "--mode=harness needs --tasks=NAME[,NAME...], e.g. --tasks=heldout_continuation",
    ),
    (
        "harness: unknown task",
        [f"--workdir={T}", "--mode=harness", "--tasks=nope_task"],
        "--tasks names an unknown task 'nope_task'",
    ),
    (
        "harness: negative few-shot",
        [f"--workdir={T}", "--mode=harness", "--tasks=lambada_openai", "--num_fewshot=-1"],
        "--num_fewshot=-1 must be >= 0, --limit=None above 0 and --harness_batch_size=16",
    ),
    (
        "harness: limit 0",
        [f"--workdir={T}", "--mode=harness", "--tasks=lambada_openai", "--limit=0"],
        "--num_fewshot=None must be >= 0, --limit=0.0 above 0 and",
    ),
    (
        "harness: batch 0",
        [f"--workdir={T}", "--mode=harness", "--tasks=lambada_openai", "--harness_batch_size=0"],
        "--num_fewshot=None must be >= 0, --limit=None above 0 and",
    ),
    (
        "harness: include path nowhere",
        [f"--workdir={T}", "--mode=harness", "--tasks=x", f"--include_path={F}/nowhere"],
        "is not a directory. Pass a directory of harness task YAML files",
    ),
    (
        "harness: hellaswag not JSON",
        [f"--workdir={T}", "--mode=harness", "--tasks=hellaswag_local", f"--hellaswag={F}/hellaswag_bad.jsonl"],
        "line 1: not a HellaSwag example (missing activity_label, ctx_a, ctx_b, endings,",
    ),
    (
        "harness: hellaswag missing",
        [f"--workdir={T}", "--mode=harness", "--tasks=hellaswag_local", f"--hellaswag={F}/nope.jsonl"],
        "--tasks=hellaswag_local reads HellaSwag's validation set from a file: pass",
    ),
    (
        "harness: no checkpoint",
        [f"--workdir={N}", "--mode=harness", "--tasks=lambada_openai"],
        "Train first (--mode=train) with this --workdir, or name a pretrained model with",
    ),
    (
        "harness: a masked model",
        [f"--workdir={M}", "--config.objective=masked", "--mode=harness", "--tasks=lambada_openai"],
        "The harness scores text left to right and needs a causal model; this one is",
    ),
    (
        "harness: a seq2seq model",
        [f"--workdir={S}", S2S, "--mode=harness", "--tasks=lambada_openai"],
        "This is a encoder_decoder model (it writes a target from a source); the harness",
    ),
    (
        "collate: nowhere",
        [f"--workdir={F}/nowhere", "--mode=collate"],
        "does not exist: run the sweep first (--mode=sweep",
    ),
    (
        "collate: empty",
        [f"--workdir={F}/empty_dir", "--mode=collate"],
        "holds no variant of a sweep (no */sweep.json): run --mode=sweep",
    ),
    (
        "collate: unknown metric",
        [f"--workdir={F}/sweep_ok", "--mode=collate", "--metric=eval/nope"],
        "eval/nope is not in the metrics.jsonl of ['seed=0']: --metric must be a logged",
    ),
    (
        "collate: cut metrics",
        [f"--workdir={F}/sweep_metrics_cut", "--mode=collate"],
        "metrics.jsonl, line 2, is not a metrics record",
    ),
    (
        "collate: a cut sweep.json",
        [f"--workdir={F}/sweep_cut", "--mode=collate"],
        "cannot be read as JSON (Unterminated string starting at: line 1 column 20 (char",
    ),
    (
        "compare: no --compare_to",
        [f"--workdir={T}", "--mode=compare"],
        "--mode=compare needs --compare_to=DIR, the workdir to set beside --workdir",
    ),
    (
        "compare: nowhere",
        [f"--workdir={T}", "--mode=compare", f"--compare_to={F}/nowhere"],
        "has no config.json: --mode=compare takes two trained workdirs",
    ),
    (
        "compare: not a run",
        [f"--workdir={T}", "--mode=compare", f"--compare_to={F}/empty_dir"],
        "has no config.json: --mode=compare takes two trained workdirs",
    ),
    (
        "verify: no contract",
        [f"--workdir={T}", "--mode=verify"],
        "declares no reproduction contract (CONTRACTS['smoke'] in the file); those it",
    ),
    (
        "sweep: no get_sweep",
        [f"--config={F}/nosweep.py", "--mode=sweep"],
        "defines no get_sweep(arg): a sweep is a list of config overrides that the",
    ),
    (
        "sweep: a dict",
        [f"--config={F}/sweep_list.py", "--mode=sweep"],
        "get_sweep returned dict {'seed': [0, 1]}; it must return a non-empty list of",
    ),
    (
        "sweep: an unknown key",
        [f"--config={F}/sweep_badkey.py", "--mode=sweep"],
        "get_sweep's variant 0: The sweep's override model.nope=1 names no config field:",
    ),
    (
        "sweep: empty",
        [f"--config={F}/sweep_empty.py", "--mode=sweep"],
        "get_sweep returned list []; it must return a non-empty list of dicts of config",
    ),
    (
        "sweep: index out of range",
        [f"--config={ROOT}/experiments/positions.py:smoke", "--mode=sweep", "--sweep_index=99"],
        "--sweep_index=99 is out of range: this sweep has 12 variants (0 to 11). A SLURM",
    ),
    (
        "config: returns None",
        [f"--config={F}/returns_none.py"],
        "returned a NoneType, not an ml_collections.ConfigDict. Start from",
    ),
    ("config: a syntax error", [f"--config={F}/syntax_error.py"], "was never closed (syntax_error.py, line 2"),
    (
        "config: no get_config",
        [f"--config={F}/no_get_config.py"],
        "unknown config key: module config_config has no attribute get_config",
    ),
    ("config: an import error", [f"--config={F}/import_error.py"], "No module named 'nonexistent_module_xyz"),
    (
        "init timeout 0",
        ["--init_timeout=0", "--coordinator_address=127.0.0.1:1", "--num_processes=2", "--process_id=0"],
        "--init_timeout=0.0 must be > 0: the seconds the processes wait for each other",
    ),
    (
        "0 processes",
        ["--coordinator_address=127.0.0.1:1", "--num_processes=0", "--process_id=0"],
        "--num_processes=0 must be >= 1: the number of processes of the run",
    ),
    (
        "a port of letters",
        ["--coordinator_address=localhost:http", "--num_processes=2", "--process_id=0"],
        "--coordinator_address=localhost:http should be HOST:PORT, process 0's host and",
    ),
    (
        "workdir a file",
        [f"--workdir={F}/text.txt"],
        "is damaged: the workdir itself is a file, not a directory. Nothing was changed.",
    ),
    (
        "workdir unwritable",
        ["--workdir=/proc/lm_run"],
        "Cannot create the workdir /proc/lm_run (No such file or directory). Choose",
    ),
    ("parallel mode", ["--config.parallel.mode=spmd"], "parallel.mode='spmd' choose one of pmap, mesh"),
    (
        "mesh does not divide",
        ["--config.parallel.mode=mesh", "--config.parallel.fsdp=3"],
        "parallel.data x fsdp x tensor = 1 x 3 x 1 must multiply to the 1 devices",
    ),
    ("mesh tensor 0", ["--config.parallel.mode=mesh", "--config.parallel.tensor=0"], "parallel.tensor=0 must be >= 1"),
    (
        "size unknown",
        ["--config.model.size=giant"],
        "model.size='giant' choose one of nano, tiny, mini, small, medium, large, xl,",
    ),
    (
        "custom size without fields",
        ["--config.model.size=custom"],
        "model.num_layers=None must be set when model.size='custom'",
    ),
    (
        "kv heads",
        ["--config.model.num_kv_heads=3"],
        "model.num_kv_heads=3 must be >= 1 and divide model.num_heads=2 (each key /",
    ),
    (
        "rotary fraction 0",
        ["--config.model.position=rotary", "--config.model.rotary_fraction=0"],
        "model.rotary_fraction=0.0 must be in (0, 1] and rotate an even number (>= 2) of",
    ),
    (
        "vocab smaller than the tokenizer",
        ["--config.model.vocab_size=10"],
        "model.vocab_size=10 is smaller than the tokenizer's vocabulary (28). Remove the",
    ),
    (
        "family unknown",
        ["--config.model.family=mamba"],
        "model.family='mamba' choose one of transformer, encoder_decoder, gru",
    ),
    (
        "gru for causal",
        ["--config.model.family=gru"],
        "model.family='gru' cannot train objective=causal, which needs model.family= one",
    ),
    (
        "encoder-decoder for masked",
        ["--config.objective=masked", "--config.model.family=encoder_decoder"],
        "model.family='encoder_decoder' cannot train objective=masked, which needs",
    ),
    ("seq_len 0", ["--config.data.seq_len=0"], "data.seq_len=0 must be > 0"),
    ("seq_len 1", ["--config.data.seq_len=1"], "No prompt fits: train with a longer context (data.seq_len)"),
    ("negative steps", ["--config.train.num_steps=-1"], "train.num_steps=-1 must be > 0"),
    ("log every 0", ["--config.train.log_every=0"], "train.log_every=0 must be > 0"),
    ("checkpoint every -1", ["--config.train.checkpoint_every=-1"], "train.checkpoint_every=-1 must be > 0"),
    ("keep 0 checkpoints", ["--config.train.keep_checkpoints=0"], "train.keep_checkpoints=0 must be > 0"),
    ("negative warmup", ["--config.optim.warmup_steps=-1"], "optim.warmup_steps=-1 must be >= 0"),
    (
        "floor above the peak",
        ["--config.optim.min_learning_rate=1.0"],
        "optim.min_learning_rate=1.0 must be in [0, optim.learning_rate=0.002]",
    ),
    ("negative clip", ["--config.optim.grad_clip=-1.0"], "optim.grad_clip=-1.0 must be finite, >= 0 (0: off)"),
    ("label smoothing 1.5", ["--config.optim.label_smoothing=1.5"], "optim.label_smoothing=1.5 must be in [0, 1)"),
    ("val fraction 0", ["--config.data.val_fraction=0"], "data.val_fraction=0.0 must be in (0, 1)"),
    ("val fraction 1", ["--config.data.val_fraction=1.0"], "data.val_fraction=1.0 must be in (0, 1)"),
    ("eval batch 0", ["--config.train.eval_batch_size=0"], "train.eval_batch_size=0 must be > 0"),
    (
        "estimate batches 0",
        ["--config.evals=estimate", "--config.train.estimate_batches=0"],
        "train.estimate_batches=0 must be > 0",
    ),
    (
        "rouge of a language model",
        ["--config.evals=rouge"],
        "evals='rouge': rouge scores targets decoded from sources, which",
    ),
    ("negative seed", ["--config.seed=-1"], "seed=-1 must be >= 0"),
    (
        "tfds without TensorFlow",
        ["--config.data.tfds_name=tiny_shakespeare"],
        "TFDS datasets need TensorFlow and tensorflow-datasets, which the main install",
    ),
    (
        "document mask without shards",
        ["--config.data.document_mask=True"],
        "data.document_mask=True masks the documents of token shards for a causal",
    ),
    (
        "shards nowhere",
        [f"--config.data.shards={F}/nowhere"],
        "holds no manifest.json: it is not a directory of token shards, or their",
    ),
    (
        "shards empty",
        [f"--config.data.shards={F}/shards_empty"],
        "holds no manifest.json: it is not a directory of token shards, or their",
    ),
    (
        "sentencepiece type",
        ["--config.data.tokenizer=sentencepiece", "--config.data.sentencepiece_type=word2"],
        "data.sentencepiece_type='word2' choose one of bpe, unigram",
    ),
    (
        "tokenizer.json not JSON",
        ["--config.data.tokenizer=hf", f"--config.data.tokenizer_path={F}/tok_bad"],
        "could not be read by the tokenizers library (key must be a string at line 1",
    ),
    (
        "tokenizer.json empty vocabulary",
        ["--config.data.tokenizer=hf", f"--config.data.tokenizer_path={F}/tok_empty"],
        "has an empty vocabulary: it would encode every text to nothing. It is not the",
    ),
    (
        "tokenizer path a file",
        ["--config.data.tokenizer=hf", f"--config.data.tokenizer_path={F}/text.txt"],
        "it needs tokenizer.json (with tokenizer_config.json), or vocab.json and",
    ),
    (
        "tokenizer unknown",
        ["--config.data.tokenizer=words"],
        "data.tokenizer='words' choose one of byte, char, sentencepiece, hf",
    ),
    ("masking rate 0", ["--config.objective=masked", "--config.masking.rate=0"], "masking.rate=0.0 must be in (0, 1)"),
    (
        "masking fractions over 1",
        ["--config.objective=masked", "--config.masking.mask_fraction=0.9", "--config.masking.random_fraction=0.2"],
        "masking.mask_fraction=0.9 and masking.random_fraction=0.2 must be >= 0 and add",
    ),
    (
        "noise density 0",
        [S2S, "--config.objective=span_corruption", "--config.span_corruption.noise_density=0"],
        "span_corruption.noise_density=0.0 must be in (0, 1)",
    ),
    (
        "span length 0",
        [S2S, "--config.objective=span_corruption", "--config.span_corruption.mean_span_length=0"],
        "span_corruption.mean_span_length=0.0 must be >= 1",
    ),
    (
        "span corruption of a decoder",
        ["--config.objective=span_corruption", "--config.model.family=transformer"],
        "model.family='transformer' cannot train objective=span_corruption, which needs",
    ),
    (
        "seq2seq: unknown task",
        [S2S, "--config.data.task=translate"],
        "data.task='translate' choose shakespeare_speakers (classify), reverse, sort or",
    ),
    (
        "seq2seq: no data",
        [S2S, "--config.data.task="],
        "Sequence pairs need a source: --config.data.task=reverse|sort|add (built in),",
    ),
    (
        "seq2seq: record an array",
        [S2S, "--config.data.task=", f"--config.data.path={F}/pairs_array.jsonl"],
        "has lines that are not JSON objects: each line must be one record. Fix the file",
    ),
    (
        "seq2seq: a cut record",
        [S2S, "--config.data.task=", f"--config.data.path={F}/pairs_cut.jsonl"],
        "cannot be read as JSONL (Invalid control character at: line 1 column 14 (char",
    ),
    ("seq2seq: source_len 0", [S2S, "--config.data.source_len=0"], "data.source_len=0 must be > 0"),
    ("seq2seq: decode beams 0", [S2S, "--config.eval_decode.num_beams=0"], "eval_decode.num_beams=0 must be >= 1"),
    (
        "seq2seq: bleu tokenizer",
        [S2S, "--config.evals=bleu", "--config.eval_decode.bleu_tokenize=words"],
        "eval_decode.bleu_tokenize='words' choose one of sacreBLEU's tokenizers: none,",
    ),
    (
        "seq2seq: decode -1 examples",
        [S2S, "--config.eval_decode.num_examples=-1"],
        "eval_decode.num_examples=-1 must be >= 0 (0: all)",
    ),
    ("seq2seq: task examples 0", [S2S, "--config.data.task_examples=0"], "data.task_examples=0 must be > 0"),
    ("seq2seq: eval fraction 1", [S2S, "--config.data.eval_fraction=1.0"], "data.eval_fraction=1.0 must be in (0, 1)"),
    (
        "seq2seq: another size on resume",
        [S2S, f"--workdir={S}", "--config.model.d_model=64"],
        "holds a run of a different model (model.d_model: 32 in the workdir, 64 now;",
    ),
    (
        "seq2seq: another family on resume",
        [S2S, f"--workdir={S}", "--config.model.family=gru"],
        "holds a run of a different model (model.family: 'encoder_decoder' in the",
    ),
    (
        "seq2seq: prompt outside the vocabulary",
        [S2S, f"--workdir={S}", "--mode=sample", "--prompt=©"],
        "The prompt '©' (--prompt, or the experiment's sample.prompt:",
    ),
    (
        "seq2seq: empty prompt",
        [S2S, f"--workdir={S}", "--mode=sample", "--prompt="],
        "The prompt is empty. Pass at least one character",
    ),
    (
        "seq2seq: prompt too long",
        [S2S, f"--workdir={S}", "--mode=sample", "--prompt=abcdefghijklmnop"],
        "The source (16 tokens) is longer than the model's context of 8 tokens (its",
    ),
    (
        "seq2seq: score",
        [S2S, f"--workdir={S}", "--mode=score", "--text=abc"],
        "--mode=score reads one text under a language model; this encoder_decoder model",
    ),
    (
        "seq2seq: export",
        [S2S, f"--workdir={S}", "--mode=export", f"--out={N}"],
        "No Hugging Face family we export expresses this model: Not GPT-2, as it has",
    ),
    (
        "gru: export",
        [S2S, f"--workdir={G}", "--config.model.family=gru", "--mode=export", f"--out={N}"],
        "No Hugging Face family we export expresses this model: Not GPT-2, as it has",
    ),
    (
        "gru: beams 0",
        [S2S, f"--workdir={G}", "--config.model.family=gru", "--mode=sample", "--num_beams=0"],
        "sample.num_beams=0 must be >= 1 (1: no beams)",
    ),
    (
        "gru: too many new tokens",
        [S2S, f"--workdir={G}", "--config.model.family=gru", "--mode=sample", "--max_new_tokens=100"],
        "[BOS] plus max_new_tokens=100 is longer than the model's context of 8 tokens.",
    ),
    (
        "gru: harness",
        [S2S, f"--workdir={G}", "--config.model.family=gru", "--mode=harness", "--tasks=lambada_openai"],
        "This is a gru model (it writes a target from a source); the harness adapter",
    ),
    (
        "gru: bench_generate",
        [S2S, "--config.model.family=gru", "--mode=bench_generate", "--bench_prompt_len=4", "--bench_new_tokens=2"],
        "--mode=bench_generate times decoder-only models; model.family=gru reads a",
    ),
    (
        "gru: rotary",
        [S2S, "--config.model.family=gru", "--config.model.position=rotary"],
        "model.position='rotary' is an option of the Transformer; a GRU has none",
    ),
    (
        "gru: mesh",
        [S2S, "--config.model.family=gru", "--config.parallel.mode=mesh", "--config.parallel.tensor=2"],
        "parallel.data x fsdp x tensor = 1 x 1 x 2 must multiply to the 1 devices",
    ),
    (
        "masked: score",
        [f"--workdir={M}", "--config.objective=masked", "--mode=score", "--text=abc"],
        "Scoring reads left to right and needs a causal model; this one is bidirectional",
    ),
    (
        "masked: export",
        [f"--workdir={M}", "--config.objective=masked", "--mode=export", f"--out={N}/x"],
        "No Hugging Face family we export expresses this model: Not GPT-2, as it has",
    ),
    (
        "masked: resumed as causal",
        [f"--workdir={M}"],
        "holds a run of a different model (model.causal: False in the workdir, True now;",
    ),
    (
        "classify: no data",
        ["--config.objective=classify"],
        "Fine-tuning needs labelled data: set --config.data.path=FILE.csv|.tsv|.jsonl,",
    ),
    (
        "classify: a short row",
        ["--config.objective=classify", f"--config.data.path={F}/labels_short_row.csv"],
        "record 41 has no value for ['label']. Fix or remove that record",
    ),
    (
        "classify: header only",
        ["--config.objective=classify", f"--config.data.path={F}/labels_header_only.csv"],
        "has no records",
    ),
    (
        "classify: missing pair field",
        ["--config.objective=classify", f"--config.data.path={F}/labels.csv", "--config.data.text_pair_field=second"],
        "has no field(s) ['second'] (it has ['label', 'text']). Set",
    ),
    (
        "classify: eval file missing",
        ["--config.objective=classify", f"--config.data.path={F}/labels.csv", f"--config.data.eval_path={F}/nope.csv"],
        "does not exist. Pass a .csv or .tsv or .jsonl file with --config.data.path=FILE",
    ),
    (
        "classify: pack without first pooling",
        [
            "--config.objective=classify",
            f"--config.data.path={F}/labels_ab.csv",
            "--config.data.pack=True",
            "--config.model.pooling=mean",
        ],
        "data.pack=True needs an encoder with model.pooling=first (each packed text is",
    ),
    (
        "classify: encoder lr scale",
        ["--config.objective=classify", f"--config.data.path={F}/labels.csv", "--config.finetune.encoder_lr_scale=-1"],
        "finetune.encoder_lr_scale=-1.0 must be >= 0",
    ),
    (
        "classify: from a causal run",
        [
            "--config.objective=classify",
            f"--config.data.path={F}/labels.csv",
            f"--config.init_from={T}",
            "--config.model.pooling=nope",
        ],
        "model.pooling='nope' choose one of first, last, mean",
    ),
    (
        "tag: lengths differ",
        [
            "--config.objective=tag",
            f"--config.data.path={F}/tags_mismatch.jsonl",
            "--config.data.text_field=tokens",
            "--config.data.label_field=tags",
        ],
        "Token labels need JSONL rows whose 'tokens' is a list of words and 'tags' a",
    ),
    (
        "tag: missing field",
        ["--config.objective=tag", f"--config.data.path={F}/tags.jsonl"],
        "has no field(s) ['text', 'label'] (it has ['tags', 'tokens']). Set",
    ),
    (
        "prepare: workers 0",
        [*PREPARE, f"--config.data.path={F}/text.txt", "--num_workers=0"],
        "--num_workers=0 must be >= 1",
    ),
    (
        "prepare: a bad parquet",
        [*PREPARE, f"--config.data.path={F}/bad.parquet"],
        "cannot be read as Parquet (Parquet magic bytes not found in footer. Either the",
    ),
    (
        "prepare: jsonl without the field",
        [*PREPARE, f"--config.data.path={F}/docs.jsonl"],
        "at byte 0 has no field 'text' (it has ['body']). Set --config.data.text_field",
    ),
    (
        "prepare: jsonl arrays",
        [*PREPARE, f"--config.data.path={F}/docs_array.jsonl"],
        "at byte 0 is a JSON list, not an object with a text field",
    ),
    (
        "prepare: not a dataset",
        [*PREPARE, f"--config.data.hf_dataset={F}/empty_dir"],
        "is not a dataset that save_to_disk wrote",
    ),
    (
        "prepare: nothing to read",
        [*PREPARE, f"--config.data.path={F}/empty_dir"],
        "names no .txt, .jsonl, .parquet file (a file, a directory or a glob pattern).",
    ),
    (
        "eval: config.json a list",
        [f"--workdir={F}/config_list", "--mode=eval"],
        "holds a JSON list, not a JSON object. It records the config that trained the",
    ),
    (
        "init_from: garbage safetensors",
        [f"--config.init_from={F}/hf_dir"],
        "could not be read as safetensors (Error while deserializing header: header too",
    ),
    (
        "init_from: a file",
        [f"--config.init_from={F}/text.txt"],
        "is neither a workdir (no config.json from launch.py --mode=train) nor a Hugging",
    ),
    (
        "init_from an org/name offline",
        ["--config.init_from=openai-community/gpt2"],
        "is no local directory, and the Hugging Face Hub's model 'openai-community/gpt2' (revision main)",
    ),
    (
        "score: an empty text",
        [f"--workdir={T}", "--mode=score", "--text="],
        "The text has 0 token(s): nothing to score. Pass a longer --text",
    ),
    (
        "export: restore a step not saved",
        [f"--workdir={T}", "--mode=export", f"--out={N}", "--config.train.restore=3"],
        "it holds steps 2, 4. Choose one of them, best or latest",
    ),
]


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
