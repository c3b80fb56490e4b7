"""--mode=prepare's work: a corpus on disk -> token shards in data.shards (lm/data/shards.py), over processes.

Sources, the first set wins:
  data.path        a .txt, .jsonl or .parquet file, a directory of them (searched recursively), or a glob
  data.hf_dataset  a Hugging Face `datasets` dataset written by save_to_disk (of a DatasetDict, its "train")
  data.tfds_name   a TFDS dataset: its data.train_split trains, its data.eval_split validates (one unit each)
A document is a .jsonl line's or a row's data.text_field; a .txt file is one document. A single .txt file is
split as nanoGPT splits tiny Shakespeare: its last data.val_fraction validates (a corpus of one document has
nothing whole to hold out). Otherwise validation documents are held out whole, each with probability
data.val_fraction by a hash of (data.seed of the shards, its place in its file): the split does not depend on
the number of workers or on the order they finish in.

The work is cut into units: a range of lines of one file (about UNIT_BYTES), a .parquet row group, a range of
a dataset's rows. Each unit is one worker's task and becomes one shard per split, written under a temporary
name and renamed, with its counts beside it (unit_00000.json): a killed prepare, run again with the same
settings, skips the units that have their counts. The manifest is written last: a directory with one is whole.
"""

import glob
import hashlib
import json
import multiprocessing
import os
import time

import numpy as np

from lm import console
from lm.data import shards, tfds_source, tokenizers
from lm.workdir_files import write_atomically

UNIT_BYTES = 16 << 20  # text per unit: a worker holds its text and its ids, a few times this
UNIT_ROWS = 20_000  # rows of a dataset per unit
SAMPLE_BYTES = 64 << 20  # the training text a char / SentencePiece tokenizer is learned from
EXTENSIONS = (".txt", ".jsonl", ".parquet")
PLAN = "prepare.json"  # the settings of a preparation under way: what a resumed one must match


def prepare(data, directory: str, tokenizer: tokenizers.Tokenizer | None, num_workers: int) -> dict:
    """Tokenizes the corpus data describes into shards in `directory`; returns the manifest.

    Args:
      data: the config's `data` section (source, text_field, val_fraction, tokenizer, vocab_size).
      directory: where the shards go: new, empty, or a preparation of the same settings to finish.
      tokenizer: a pretrained model's (init_from), or None to build data.tokenizer (char and SentencePiece
        learned from the first SAMPLE_BYTES of the training documents).
      num_workers: processes that tokenize (1: this one).
    """
    units, source = plan_units(data)
    existing = _existing(directory)
    if existing.get("manifest"):
        raise ValueError(
            f"{directory} already holds prepared shards ({shards.MANIFEST}). Train on them with "
            f"--config.data.shards={directory}, or prepare into a new directory (or remove this one)."
        )
    if existing.get("other"):
        raise ValueError(
            f"{directory} holds files that are not shards ({', '.join(existing['other'][:3])}). Prepare into a new "
            "or empty directory."
        )
    if tokenizer is None:
        tokenizer = tokenizers.load(directory) if existing.get("plan") else None
    if tokenizer is None:
        tokenizer = build_tokenizer(data, units)
    if "[EOS]" not in tokenizer.special_ids:
        raise ValueError(
            f"The {tokenizer.kind} tokenizer has no end-of-document token ([EOS]) to put between documents."
        )
    settings = {
        "source": source,
        "text_field": data.text_field,
        "val_fraction": data.val_fraction,
        "seed": data.shard_seed,
        "tokenizer": {
            "kind": tokenizer.kind,
            "sha256": shards.fingerprint(tokenizer),
            "vocab_size": tokenizer.vocab_size,
        },
        "dtype": shards.dtype_for(tokenizer.vocab_size),
        "eos": int(tokenizer.special_ids["[EOS]"]),
        "units": len(units),
    }
    settings = json.loads(json.dumps(settings))  # as the plan file holds them (lists, not tuples)
    if existing.get("plan") and existing["plan"] != settings:
        raise ValueError(
            f"{directory} holds a preparation with other settings (source, tokenizer, seed or val_fraction; its "
            f"{PLAN}). Prepare into a new directory, or remove this one to start again."
        )
    os.makedirs(directory, exist_ok=True)
    if not existing.get("plan"):
        tokenizers.save(tokenizer, directory)
        _write_json(os.path.join(directory, PLAN), settings)
    todo = [(i, unit) for i, unit in enumerate(units) if not os.path.exists(_counts_path(directory, i))]
    if len(todo) < len(units):
        console.log(f"prepare: resuming, {len(units) - len(todo)} of {len(units)} units already done")
    args = [(directory, i, unit, settings) for i, unit in todo]
    progress = Progress(len(units), len(units) - len(todo))
    if num_workers > 1 and len(args) > 1:
        with multiprocessing.get_context("spawn").Pool(min(num_workers, len(args))) as pool:
            for counts in pool.imap_unordered(_tokenize_unit, args):
                progress.update(counts)
    else:
        for a in args:
            progress.update(_tokenize_unit(a))
    manifest = {"format": shards.FORMAT, **settings, "splits": {"train": [], "val": []}}
    for i in range(len(units)):
        with open(_counts_path(directory, i)) as f:
            counts = json.load(f)
        for split in ("train", "val"):
            manifest["splits"][split].append({"file": shards.shard_name(split, i), **counts[split]})
    documents = sum(s["documents"] for split in manifest["splits"].values() for s in split)
    for split, name in (("train", "training"), ("val", "validation")):
        if not sum(s["tokens"] for s in manifest["splits"][split]):
            raise ValueError(
                f"The {name} split of {source['name']} is empty: {documents} document(s) with "
                f"data.val_fraction={data.val_fraction}. Use more documents or another --config.data.val_fraction."
            )
    _write_json(os.path.join(directory, shards.MANIFEST), manifest)
    progress.done(directory)
    return manifest


def plan_units(data) -> tuple[list[tuple], dict]:
    """(the units of work, a description of the source that decides the shards)."""
    if data.path:
        files, root = input_files(data.path), corpus_root(data.path)
        units = []
        for path in files:
            name = os.path.relpath(path, root)  # the hold-out keys: the same wherever the corpus lies
            units += _file_units(path, name, len(files) == 1 and path.endswith(".txt"), data.val_fraction)
        return units, {"name": data.path, "files": [(os.path.relpath(p, root), os.path.getsize(p)) for p in files]}
    if data.hf_dataset:
        rows = len(_hf_dataset(data.hf_dataset))
        units = [("dataset", data.hf_dataset, a, min(a + UNIT_ROWS, rows)) for a in range(0, rows, UNIT_ROWS)]
        return units, {"name": data.hf_dataset, "rows": rows}
    if data.tfds_name:
        splits = (("train", data.train_split), ("val", data.eval_split))
        units = [("tfds", data.tfds_name, split, data.tfds_dir, data.tfds_text_key, part) for part, split in splits]
        return units, {"name": data.tfds_name, "splits": [data.train_split, data.eval_split]}
    raise ValueError(
        "--mode=prepare needs a corpus: --config.data.path=FILE|DIR|GLOB (.txt, .jsonl with data.text_field, "
        ".parquet), --config.data.hf_dataset=DIR (a Hugging Face dataset saved with save_to_disk) or "
        "--config.data.tfds_name=NAME."
    )


def corpus_root(path: str) -> str:
    """The directory a corpus's files are named from: data.path itself, or the one that holds the file or the
    glob pattern's first wildcard."""
    if os.path.isdir(path):
        return path
    fixed = path.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0]
    return os.path.dirname(fixed) or "."


def input_files(path: str) -> list[str]:
    """The .txt / .jsonl / .parquet files of a file, a directory (recursively) or a glob pattern, sorted."""
    if os.path.isdir(path):
        found = glob.glob(os.path.join(path, "**", "*"), recursive=True)
    elif os.path.isfile(path):
        found = [path]
    else:
        found = glob.glob(path, recursive=True)
    files = sorted(f for f in found if os.path.isfile(f) and f.endswith(EXTENSIONS))
    if not files:
        raise ValueError(
            f"data.path={path!r} names no {', '.join(EXTENSIONS)} file (a file, a directory or a glob pattern). "
            "Point it at the corpus."
        )
    for f in files:
        if os.path.getsize(f) == 0:
            raise ValueError(f"{f} is empty. Remove it from the corpus, or point data.path past it.")
    return files


def _file_units(path: str, name: str, single_txt: bool, val_fraction: float) -> list[tuple]:
    """Units of one file: ("lines", path, name, start, end, part, document_end) byte ranges that end after a
    newline, or one ("parquet", path, name, row_group) per row group. name: the file's path in the corpus;
    `part`: a single .txt file's "train" or "val" side, else None; document_end: where a .txt document (the
    file, or its side) ends."""
    if path.endswith(".parquet"):
        parquet = _pyarrow_parquet()
        try:
            groups = parquet.ParquetFile(path).num_row_groups
        except Exception as e:  # noqa: BLE001 -- pyarrow's errors (ArrowInvalid, OSError) for a damaged file
            raise ValueError(
                f"{path} cannot be read as Parquet ({e}). Remove it from the corpus, or replace it."
            ) from e
        return [("parquet", path, name, g) for g in range(groups)]
    size = os.path.getsize(path)
    if not single_txt:
        return [("lines", path, name, a, b, None, size) for a, b in _line_ranges(path, 0, size)]
    cut = _char_boundary(path, int(size * (1.0 - val_fraction)))
    train = [("lines", path, name, a, b, "train", cut) for a, b in _line_ranges(path, 0, cut)]
    return train + [("lines", path, name, a, b, "val", size) for a, b in _line_ranges(path, cut, size)]


def _char_boundary(path: str, offset: int) -> int:
    """The first UTF-8 character boundary at or after byte `offset`."""
    with open(path, "rb") as f:
        f.seek(offset)
        while (byte := f.read(1)) and byte[0] & 0xC0 == 0x80:  # a continuation byte
            offset += 1
    return offset


def _line_ranges(path: str, start: int, end: int) -> list[tuple[int, int]]:
    """[start, end) cut into ranges of about UNIT_BYTES that end after a newline (or at `end`)."""
    ranges = []
    with open(path, "rb") as f:
        while start < end:
            stop = min(start + UNIT_BYTES, end)
            if stop < end:
                f.seek(stop)
                stop = min(stop + len(f.readline()), end)
            ranges.append((start, stop))
            start = stop
    return ranges


def documents(unit: tuple, text_field: str):
    """(key, text, ends) of each document piece of a unit: key places it in its file (for the hold-out), ends
    says whether the document ends here (a .txt file's last unit; every other document is whole)."""
    kind, path = unit[0], unit[1]
    if kind == "lines":
        _, _, name, start, end, part, document_end = unit
        with open(path, "rb") as f:
            f.seek(start)
            raw = f.read(end - start)
        if path.endswith(".txt"):
            yield (part or name), _decode(raw, path, start), end == document_end
            return
        offset = start
        for line in raw.splitlines(keepends=True):
            if line.strip():
                yield f"{name}:{offset}", _field(json_line(line, path, offset), text_field, path, offset), True
            offset += len(line)
    elif kind == "tfds":
        _, name, split, data_dir, feature, part = unit
        for (text,) in tfds_source.examples(name, split, data_dir, {"tfds_text_key": feature}):
            yield part, text, True
    elif kind == "parquet":
        _, _, name, group = unit
        table = _pyarrow_parquet().ParquetFile(path).read_row_group(group, columns=[text_field])
        for row, text in enumerate(table.column(text_field).to_pylist()):
            yield f"{name}:{group}:{row}", _text(text, f"{path} (row group {group}, row {row})"), True
    else:
        _, directory, start, end = unit
        rows = _hf_dataset(directory).select(range(start, end))
        for i, example in enumerate(rows):
            if text_field not in example:
                raise ValueError(f"{directory} has no column {text_field!r} (it has {sorted(example)}). Set "
                                 "--config.data.text_field.")  # fmt: skip
            yield f"row {start + i}", _text(example[text_field], f"{directory} row {start + i}"), True


def json_line(line: bytes, path: str, offset: int) -> dict:
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} at byte {offset} is not a line of JSON ({e}). Fix or remove that line.") from e
    if not isinstance(record, dict):
        raise ValueError(f"{path} at byte {offset} is a JSON {type(record).__name__}, not an object with a text field.")
    return record


def _field(record: dict, field: str, path: str, offset: int) -> str:
    if field not in record:
        raise ValueError(
            f"{path} at byte {offset} has no field {field!r} (it has {sorted(record)[:8]}). Set "
            "--config.data.text_field to the field that holds the text."
        )
    return _text(record[field], f"{path} at byte {offset}")


def _text(value, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where}: the text field holds a {type(value).__name__}, not text.")
    return value


def _decode(raw: bytes, path: str, offset: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{path} is not UTF-8 text (byte {offset + e.start}: {e.reason}); a binary file, or another encoding. "
            "Convert it to UTF-8 or remove it from the corpus."
        ) from e


def held_out(seed: int, key: str, fraction: float) -> bool:
    """Whether the document at `key` validates: a hash of (seed, key) below `fraction`."""
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64 < fraction


_TOKENIZERS = {}  # directory -> the tokenizer a worker process loaded from it


def _tokenize_unit(args) -> dict:
    """One unit's documents -> its train and val shards and their counts (a worker's task)."""
    directory, index, unit, settings = args
    tokenizer = _TOKENIZERS.get(directory) or _TOKENIZERS.setdefault(directory, tokenizers.load(directory))
    dtype = np.dtype(settings["dtype"])  # each document's ids are kept at the shard's width (2 bytes: uint16)
    eos = np.array([settings["eos"]], dtype)
    pieces = {"train": [], "val": []}
    counts = {split: {"tokens": 0, "documents": 0, "bytes": 0, "chars": 0} for split in pieces}
    for key, text, ends in documents(unit, settings["text_field"]):
        split = (
            key if key in pieces else "val" if held_out(settings["seed"], key, settings["val_fraction"]) else "train"
        )
        ids = tokenizer.encode(text)
        pieces[split] += [ids.astype(dtype), eos] if ends else [ids.astype(dtype)]
        c = counts[split]
        c["tokens"] += len(ids) + bool(ends)
        c["documents"] += bool(ends)
        c["bytes"] += len(text.encode("utf-8"))
        c["chars"] += len(text)
    for split, arrays in pieces.items():
        ids = np.concatenate(arrays) if arrays else np.zeros(0, dtype)
        write_atomically(os.path.join(directory, shards.shard_name(split, index)), ids.tobytes())
    _write_json(_counts_path(directory, index), counts)
    return counts


class Progress:
    """The console line of a preparation: units, documents, tokens, tokens/s, ETA."""

    def __init__(self, units: int, done: int):
        self.units, self.done_units, self.start, self.last = units, done, time.time(), 0.0
        self.documents = self.tokens = 0

    def update(self, counts: dict) -> None:
        self.done_units += 1
        self.documents += sum(c["documents"] for c in counts.values())
        self.tokens += sum(c["tokens"] for c in counts.values())
        now = time.time()
        if now - self.last > 2.0 or self.done_units == self.units:
            self.last = now
            rate = self.tokens / max(now - self.start, 1e-9)
            left = (now - self.start) / max(self.done_units, 1) * (self.units - self.done_units)
            console.log(
                f"prepare: {self.done_units}/{self.units} units | {self.documents:,} documents | {self.tokens:,} "
                f"tokens | {rate / 1e6:.2f}M tokens/s | ETA {int(left // 60)}m{int(left % 60):02d}s"
            )

    def done(self, directory: str) -> None:
        seconds = time.time() - self.start
        console.log(f"prepared {directory}: {self.tokens:,} tokens in {seconds:.1f} s (this run)")


def build_tokenizer(data, units: list[tuple]) -> tokenizers.Tokenizer:
    """data.tokenizer, with [EOS]: bytes as they are; characters or SentencePiece learned from the first
    SAMPLE_BYTES of the corpus's text."""
    if data.tokenizer == "byte":
        return tokenizers.ByteTokenizer(specials=True)
    if data.tokenizer == "hf":
        return tokenizers.build("hf", "")  # raises: a pretrained model's tokenizer comes from init_from
    sample, size = [], 0
    for unit in units:
        for key, text, _ in documents(unit, data.text_field):
            if key != "val":
                sample.append(text)
                size += len(text)
        if size >= SAMPLE_BYTES:
            break
    text = "\n".join(sample)
    if data.tokenizer == "char":
        return tokenizers.CharTokenizer(text, specials=True)
    return tokenizers.build(data.tokenizer, text, data.vocab_size, data.sentencepiece_type, specials=True)


def _existing(directory: str) -> dict:
    """What `directory` holds already: a manifest, a plan (a preparation under way), other files."""
    if not os.path.isdir(directory):
        return {}
    names = os.listdir(directory)
    ours = {shards.MANIFEST, PLAN, tokenizers.TOKENIZER_FILE, tokenizers.OLD_TOKENIZER_FILE}
    other = [n for n in names if n not in ours and not n.endswith((".bin", ".tmp")) and not n.startswith("unit_")]
    other = [n for n in other if not n.endswith(".model")]  # a SentencePiece tokenizer's model file
    found = {"manifest": shards.MANIFEST in names, "other": other}
    if PLAN in names:
        with open(os.path.join(directory, PLAN)) as f:
            found["plan"] = json.load(f)
    return found


def _counts_path(directory: str, index: int) -> str:
    return os.path.join(directory, f"unit_{index:05d}.json")


def _write_json(path: str, value) -> None:
    write_atomically(path, json.dumps(value, indent=1))


def _pyarrow_parquet():
    try:
        import pyarrow.parquet
    except ModuleNotFoundError as e:
        raise ValueError(f".parquet files need pyarrow ({e}). Install it: pip install pyarrow") from e
    return pyarrow.parquet


def _hf_dataset(directory: str):
    try:
        import datasets
    except ModuleNotFoundError as e:
        raise ValueError(f"data.hf_dataset needs Hugging Face datasets ({e}). Install it: pip install datasets") from e
    if not os.path.isdir(directory):
        raise ValueError(f"data.hf_dataset={directory!r} is not a directory (one that save_to_disk wrote).")
    try:
        loaded = datasets.load_from_disk(directory)
    except FileNotFoundError as e:  # datasets' words for a directory that save_to_disk did not write
        raise ValueError(
            f"data.hf_dataset={directory!r} is not a dataset that save_to_disk wrote ({e}). Save it with "
            "datasets' Dataset.save_to_disk(DIR), or give .txt / .jsonl / .parquet files with data.path."
        ) from e
    if isinstance(loaded, datasets.DatasetDict):
        if "train" not in loaded:
            raise ValueError(f"{directory} is a DatasetDict without a train split (it has {sorted(loaded)}).")
        loaded = loaded["train"]
    return loaded
