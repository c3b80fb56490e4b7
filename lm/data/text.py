"""Plain text for language modelling: source -> text splits -> tokenizer -> token ids -> fixed-length windows.

Sources, first set wins: `data.path` (a .txt file or a directory of .txt files), `data.tfds_name`
(any TFDS text dataset), else the built-in corpus (lm/data/corpus.py). A single text is split
contiguously: the first (1 - val_fraction) trains, the rest validates (as nanoGPT does). The ids are
cached in the workdir (lm/data/cache.py), so a relaunch neither reads nor tokenizes the text again.

The training batch at step s is a pure function of (seed, s), so a resumed run sees exactly the
batches an uninterrupted run would have seen; evaluation covers the whole validation split.
"""

import dataclasses
import glob
import os
import stat

import ml_collections
import numpy as np

from lm.batch import TextBatch
from lm.data import cache, corpus, tfds_source, tokenizers
from lm.data.dataset import take_rows

CACHED_FIELDS = ("train", "eval", "eval_bytes_per_token", "eval_chars_per_token", "optimal_loss")


@dataclasses.dataclass
class TextDataset:
    """Token ids of both splits, the tokenizer, and what the metrics need to know about the text
    (a lm/data/dataset.py Dataset)."""

    name: str
    tokenizer: tokenizers.Tokenizer
    train: np.ndarray  # [num_train_tokens] int32
    eval: np.ndarray  # [num_eval_tokens] int32
    eval_bytes_per_token: float  # UTF-8 bytes of the eval text / its tokens, for bits per byte
    eval_chars_per_token: float
    optimal_loss: float | None = None  # nats per token of the true generator (built-in corpus only)
    cache_key: str = ""  # the cache file's name for these ids (lm/data/cache.py)
    cached: bool = False  # the ids came from the workdir's cache, not from the text
    label_names: list[str] = dataclasses.field(default_factory=list)  # plain text has no labels

    @property
    def units_per_token(self) -> dict[str, float]:
        return {"byte": self.eval_bytes_per_token, "char": self.eval_chars_per_token}

    def train_batch(self, step: int, seed: int, batch_size: int, seq_len: int, rows=None) -> TextBatch:
        return take_rows(train_batch(self.train, step, seed, batch_size, seq_len), rows)

    def eval_batches(self, batch_size: int, seq_len: int):
        return eval_batches(self.eval, batch_size, seq_len)

    def eval_tokens(self) -> np.ndarray:
        return self.eval

    def eval_pairs(self) -> None:
        return None  # no (source, target) pairs

    def describe(self) -> str:
        return f"{len(self.train):,} train / {len(self.eval):,} eval tokens" + (" (cached)" if self.cached else "")

    def save(self, workdir: str) -> None:
        """Keeps the token ids in the workdir's cache (unless they came from there)."""
        if not self.cached:
            cache.write(cache.path(workdir, self.cache_key), {name: getattr(self, name) for name in CACHED_FIELDS})


def load(
    data: ml_collections.ConfigDict,
    tokenizer: tokenizers.Tokenizer | None = None,
    specials: bool = False,
    workdir: str | None = None,
) -> TextDataset:
    """Reads the configured source and tokenizes it, or takes its token ids from the workdir's cache.

    Args:
      data: the `config.data` section.
      tokenizer: the workdir's saved tokenizer (eval, sample, resume), or None to learn one from
        the training split. Only a given tokenizer can hit the cache: a learned one needs the text.
      specials: give a new byte / char tokenizer the special tokens ([CLS], [MASK], ...).
      workdir: whose cache to read (nothing is written: `TextDataset.save` does that); None reads none.
    """
    source = source_fingerprint(data)
    fields = None
    if workdir is not None and tokenizer is not None:
        fields = cache.read(cache.path(workdir, cache.key(source, tokenizer, specials)))
    cached = fields is not None
    if cached:  # the run that wrote the cache may have had a shorter seq_len
        check_length(data, fields["train"], fields["eval"])
    else:
        tokenizer, fields = tokenize(data, tokenizer, specials)  # a given tokenizer comes back as it was
    key = cache.key(source, tokenizer, specials)
    return TextDataset(name=source_name(data), tokenizer=tokenizer, cached=cached, cache_key=key, **fields)


def source_name(data: ml_collections.ConfigDict) -> str:
    return data.path or data.tfds_name or "built-in corpus"


def check_length(data: ml_collections.ConfigDict, train_ids, eval_ids) -> None:
    """Each split must hold at least one window of data.seq_len + 1 tokens (token ids, or characters)."""
    for split, ids in (("training", train_ids), ("validation", eval_ids)):
        if len(ids) < data.seq_len + 1:
            raise ValueError(
                f"The {split} split of {source_name(data)} has {len(ids)} tokens, fewer than one window of "
                f"data.seq_len + 1 = {data.seq_len + 1}. Use more text, a smaller --config.data.seq_len, or a "
                "different --config.data.val_fraction."
            )


def tokenize(
    data: ml_collections.ConfigDict, tokenizer: tokenizers.Tokenizer | None, specials: bool
) -> tuple[tokenizers.Tokenizer, dict]:
    """Reads the text and encodes it (learning the tokenizer when none is given).

    Returns:
      The tokenizer, and the Dataset fields that depend on the text (what the cache keeps).
    """
    train_text, eval_text, nats = read_splits(data)
    if data.tokenizer == "char":  # one token per character: a split too short for a window shows now
        check_length(data, train_text, eval_text)
    if tokenizer is None:
        tokenizer = tokenizers.build(data.tokenizer, train_text, data.vocab_size, data.sentencepiece_type, specials)
    train_ids = tokenizer.encode(train_text)
    try:
        eval_ids = tokenizer.encode(eval_text)
    except ValueError as e:  # a character vocabulary learned from the training split only
        raise ValueError(
            f"The validation split of {source_name(data)} cannot be encoded with the tokenizer of the training "
            f"split: {e}"
        ) from e
    check_length(data, train_ids, eval_ids)
    optimal = None
    if nats is not None:  # the first eval token is never a target
        optimal = float(nats[1:].sum() / (len(eval_ids) - 1))
    return tokenizer, {
        "train": train_ids,
        "eval": eval_ids,
        "eval_bytes_per_token": len(eval_text.encode("utf-8")) / len(eval_ids),
        "eval_chars_per_token": len(eval_text) / len(eval_ids),
        "optimal_loss": optimal,
    }


def read_splits(data: ml_collections.ConfigDict) -> tuple[str, str, np.ndarray | None]:
    """The training and validation text of the configured source (tokenizing, and the harness's held-out
    task in lm/evaluators/harness_task.py, read the same text).

    Returns:
      (train text, eval text, nats): nats[i] is the generator's -log P of eval text[i] for the built-in
      corpus, None for other sources.
    """
    if data.path:
        return *split_text(read_text_files(data.path), data.val_fraction), None
    if data.tfds_name:
        train_text, eval_text = (
            read_tfds_text(data.tfds_name, split, data.tfds_dir, data.tfds_text_key)
            for split in (data.train_split, data.eval_split)
        )
        return train_text, eval_text, None
    text, nats = corpus.generate(data.synthetic_chars)
    train_text, eval_text = split_text(text, data.val_fraction)
    return train_text, eval_text, nats[len(train_text) :]


def source_fingerprint(data: ml_collections.ConfigDict) -> dict:
    """What decides the text of each split, found without reading it as text (for the cache key).

    Local files count by content (a hash), not by modification time: an edit within the clock's
    resolution, or a copy that keeps times (rsync -a, cp -p), must not serve stale ids. A TFDS dataset
    counts by its name, splits and the versions prepared on disk (a newly prepared version changes it).
    """
    if data.path:
        files = [(os.path.relpath(f, data.path), cache.file_digest(f)) for f in text_files(data.path)]
        return {"files": files, "val_fraction": data.val_fraction}
    if data.tfds_name:
        data_dir = tfds_source.resolved_data_dir(data.tfds_dir)
        return {
            "tfds": [data.tfds_name, data.train_split, data.eval_split, data.tfds_text_key, data_dir],
            "prepared": tfds_source.prepared_versions(data.tfds_name, data.tfds_dir),
        }
    return {"synthetic_chars": data.synthetic_chars, "val_fraction": data.val_fraction}


def split_text(text: str, val_fraction: float) -> tuple[str, str]:
    """First (1 - val_fraction) of the text trains, the rest validates: contiguous, disjoint."""
    n = int(len(text) * (1.0 - val_fraction))
    return text[:n], text[n:]


def read_text_files(path: str) -> str:
    """A .txt file, or every .txt file under a directory (sorted, joined by newlines)."""
    files = text_files(path)
    texts = []
    for file in files:
        try:
            with open(file, encoding="utf-8") as f:
                texts.append(f.read())
        except UnicodeDecodeError as e:
            raise ValueError(f"{file} is not UTF-8 text ({e}). Convert it to UTF-8 or remove it.") from e
    text = "\n".join(texts)
    if not text.strip():
        raise ValueError(
            f"data.path={path!r} holds no text (empty file). Point --config.data.path at a file with text in it."
        )
    return text


def text_files(path: str) -> list[str]:
    """The files `read_text_files` reads, in order."""
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "**", "*.txt"), recursive=True))
        if not files:
            raise ValueError(
                f"data.path={path!r} is a directory with no .txt files. Point it at a .txt file or a "
                "directory that holds some."
            )
        for file in files:
            _check_regular(file, f"{file} (in data.path={path!r})")
        return files
    if not os.path.exists(path):
        raise ValueError(
            f"data.path={path!r} does not exist. Pass an existing .txt file or directory with --config.data.path=FILE."
        )
    _check_regular(path, f"data.path={path!r}")
    return [path]


def _check_regular(path: str, name: str) -> None:
    """Refuses what reading would hang on or never finish (a FIFO, a device) before anything reads it."""
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        kind = (
            "a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket"
        )
        raise ValueError(f"{name} is {kind}, not a regular file. Point --config.data.path at text files only.")


def read_tfds_text(name: str, split: str, data_dir: str, text_key: str) -> str:
    """Every example's text feature (`text_key`) of a TFDS split, joined by newlines."""
    features = {"tfds_text_key": text_key}
    return "\n".join(str(text) for (text,) in tfds_source.examples(name, split, data_dir, features))


def train_batch(ids: np.ndarray, step: int, seed: int, batch_size: int, seq_len: int) -> TextBatch:
    """Random windows (nanoGPT's get_batch), drawn from a generator seeded by (seed, step).

    Returns:
      {"inputs": [B, T], "targets": [B, T], "rows": [B]}: targets are inputs shifted left by one token;
      rows number the windows (objectives draw per-row randomness from them).
    """
    return random_windows(ids, np.random.default_rng([seed, step]), batch_size, seq_len)


def random_windows(ids: np.ndarray, rng: np.random.Generator, batch_size: int, seq_len: int) -> TextBatch:
    """`batch_size` windows of `seq_len` + 1 tokens at uniformly random starts: inputs, targets, rows."""
    starts = rng.integers(0, len(ids) - seq_len, size=batch_size)  # [B]
    windows = ids[starts[:, None] + np.arange(seq_len + 1)]  # [B, T + 1]
    return {"inputs": windows[:, :-1], "targets": windows[:, 1:], "rows": np.arange(batch_size, dtype=np.int32)}


def eval_batches(ids: np.ndarray, batch_size: int, seq_len: int):
    """Consecutive non-overlapping windows that score every token of the split (but the first) once.

    The last window and the last batch are padded with weight 0, so every batch has the same shape.

    Yields:
      {"inputs": [B, T], "targets": [B, T], "weights": [B, T] float32, "rows": [B] window numbers}.
    """
    num_targets = len(ids) - 1
    num_windows = -(-num_targets // seq_len)
    padded = np.zeros(num_windows * seq_len + 1, np.int32)
    padded[: len(ids)] = ids
    weights = np.zeros(num_windows * seq_len, np.float32)
    weights[:num_targets] = 1.0
    inputs = padded[:-1].reshape(num_windows, seq_len)  # [W, T]
    targets = padded[1:].reshape(num_windows, seq_len)
    weights = weights.reshape(num_windows, seq_len)
    for start in range(0, num_windows, batch_size):
        batch = {
            "inputs": inputs[start : start + batch_size],
            "targets": targets[start : start + batch_size],
            "weights": weights[start : start + batch_size],
        }
        rows = len(batch["inputs"])
        if rows < batch_size:
            batch = {k: np.concatenate([v, np.zeros((batch_size - rows, seq_len), v.dtype)]) for k, v in batch.items()}
        batch["rows"] = np.arange(start, start + batch_size, dtype=np.int32)
        yield batch
