"""Data: source -> text splits -> tokenizer -> token ids -> batches of fixed-length windows.

Sources, first set wins: `data.path` (a .txt file or a directory of .txt files), `data.tfds_name`
(any TFDS text dataset), else the built-in corpus (lm/corpus.py). A single text is split
contiguously: the first (1 - val_fraction) trains, the rest validates (as nanoGPT does).

The training batch at step s is a pure function of (seed, s), so a resumed run sees exactly the
batches an uninterrupted run would have seen; evaluation covers the whole validation split.
"""

import dataclasses
import glob
import os
import socket

import ml_collections
import numpy as np

from lm import corpus, tokenizers


@dataclasses.dataclass
class Dataset:
    """Token ids of both splits, the tokenizer, and what the metrics need to know about the text."""

    name: str
    tokenizer: tokenizers.Tokenizer
    train: np.ndarray  # [num_train_tokens] int32
    eval: np.ndarray  # [num_eval_tokens] int32
    eval_bytes_per_token: float  # UTF-8 bytes of the eval text / its tokens, for bits per byte
    eval_chars_per_token: float
    optimal_loss: float | None = None  # nats per token of the true generator (built-in corpus only)

    def train_batch(self, step: int, seed: int, batch_size: int, seq_len: int) -> dict[str, np.ndarray]:
        return train_batch(self.train, step, seed, batch_size, seq_len)

    def eval_batches(self, batch_size: int, seq_len: int):
        return eval_batches(self.eval, batch_size, seq_len)

    def describe(self) -> str:
        return f"{len(self.train):,} train / {len(self.eval):,} eval tokens"


def load(
    data: ml_collections.ConfigDict, tokenizer: tokenizers.Tokenizer | None = None, specials: bool = False
) -> Dataset:
    """Reads the configured source and tokenizes it; learns a tokenizer unless one is given.

    Args:
      data: the `config.data` section.
      tokenizer: the workdir's saved tokenizer (eval, sample, resume), or None to learn one from
        the training split.
      specials: give a new byte / char tokenizer the special tokens ([CLS], [MASK], ...).
    """
    nats = None
    if data.path:
        name = data.path
        train_text, eval_text = split_text(read_text_files(data.path), data.val_fraction)
    elif data.tfds_name:
        name = data.tfds_name
        train_text = read_tfds(data.tfds_name, data.train_split, data.tfds_dir, data.tfds_text_key)
        eval_text = read_tfds(data.tfds_name, data.eval_split, data.tfds_dir, data.tfds_text_key)
    else:
        name = "built-in corpus"
        text, nats = corpus.generate(data.synthetic_chars)
        train_text, eval_text = split_text(text, data.val_fraction)
        nats = nats[len(train_text) :]
    if tokenizer is None:
        tokenizer = tokenizers.build(data.tokenizer, train_text, data.vocab_size, data.sentencepiece_model, specials)
    train_ids, eval_ids = tokenizer.encode(train_text), tokenizer.encode(eval_text)
    for split, ids in (("training", train_ids), ("validation", eval_ids)):
        if len(ids) < data.seq_len + 1:
            raise ValueError(
                f"The {split} split of {name} has {len(ids)} tokens, fewer than one window of data.seq_len + 1 = "
                f"{data.seq_len + 1}. Use more text, a smaller --config.data.seq_len, or a different "
                "--config.data.val_fraction."
            )
    optimal = None
    if nats is not None:  # the first eval token is never a target
        optimal = float(nats[1:].sum() / (len(eval_ids) - 1))
    return Dataset(
        name=name,
        tokenizer=tokenizer,
        train=train_ids,
        eval=eval_ids,
        eval_bytes_per_token=len(eval_text.encode("utf-8")) / len(eval_ids),
        eval_chars_per_token=len(eval_text) / len(eval_ids),
        optimal_loss=optimal,
    )


def split_text(text: str, val_fraction: float) -> tuple[str, str]:
    """First (1 - val_fraction) of the text trains, the rest validates: contiguous, disjoint."""
    n = int(len(text) * (1.0 - val_fraction))
    return text[:n], text[n:]


def read_text_files(path: str) -> str:
    """A .txt file, or every .txt file under a directory (sorted, joined by newlines)."""
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "**", "*.txt"), recursive=True))
        if not files:
            raise ValueError(
                f"data.path={path!r} is a directory with no .txt files. Point it at a .txt file or a "
                "directory that holds some."
            )
    elif os.path.isfile(path):
        files = [path]
    else:
        raise ValueError(
            f"data.path={path!r} does not exist. Pass an existing .txt file or directory with --config.data.path=FILE."
        )
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


def read_tfds(name: str, split: str, data_dir: str, text_key: str) -> str:
    """All examples of a TFDS split, joined by newlines."""
    import tensorflow_datasets as tfds

    texts = []
    for example in tfds.as_numpy(load_tfds(name, split, data_dir)):
        if text_key not in example:
            raise ValueError(
                f"TFDS dataset {name!r} has no feature {text_key!r} (it has {sorted(example)}). Set "
                "--config.data.tfds_text_key to its text feature."
            )
        value = example[text_key]
        texts.append(value.decode("utf-8") if isinstance(value, bytes) else str(value))
    return "\n".join(texts)


def load_tfds(name: str, split: str, data_dir: str):
    """A TFDS split as a tf.data.Dataset.

    Looks on disk first (download=False, instant); downloads only when the network answers, so an
    offline machine gets a clear error in seconds instead of minutes of download retries.
    """
    import tensorflow_datasets as tfds  # ~5 s of import: only runs that use TFDS pay it

    kwargs = dict(split=split, data_dir=data_dir or None, shuffle_files=False)
    try:
        return tfds.load(name, download=False, **kwargs)
    except tfds.core.registered.DatasetNotFoundError as e:
        raise ValueError(
            f"data.tfds_name={name!r} is not a TFDS dataset ({str(e).splitlines()[0]}). Check the name in the "
            "TFDS catalog, or use a local file with --config.data.path=FILE."
        ) from e
    except (AssertionError, FileNotFoundError) as e:  # not prepared on disk
        if not _network_available():
            raise ValueError(
                f"TFDS dataset {name!r} (split {split!r}) is not on disk ({data_dir or '~/tensorflow_datasets'}) "
                "and this machine cannot reach the internet to download it. Either prepare it on a machine "
                "with internet and copy the data_dir here (--config.data.tfds_dir=DIR), or use a local "
                "file instead: --config.data.path=FILE."
            ) from e
        return tfds.load(name, download=True, **kwargs)


def _network_available(host: str = "storage.googleapis.com", port: int = 443, timeout: float = 2.0) -> bool:
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def train_batch(ids: np.ndarray, step: int, seed: int, batch_size: int, seq_len: int) -> dict[str, np.ndarray]:
    """Random windows (nanoGPT's get_batch), drawn from a generator seeded by (seed, step).

    Returns:
      {"inputs": [B, T], "targets": [B, T], "rows": [B]}: targets are inputs shifted left by one token;
      rows number the windows (objectives draw per-row randomness from them).
    """
    rng = np.random.default_rng([seed, step])
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
