"""Labelled data for fine-tuning: examples -> token ids with padding masks -> batches.

Sources (config.data):
  path=FILE.csv / .tsv / .jsonl   local examples with `text_field` (and `text_pair_field`) and `label_field`;
                                  for token labels (objective=tag) a JSONL whose `text_field` is a list of
                                  words and `label_field` a list of their tags. `eval_path` names a separate
                                  eval file; without it every k-th example is held out (k = 1 / eval_fraction).
  tfds_name=glue/sst2, imdb_reviews, ...   a TFDS dataset with text and label features.
  task=shakespeare_speakers       offline: which of the `num_speakers` most frequent speakers says a speech,
                                  from the held-out part of a Shakespeare text (the last val_fraction of
                                  data.path, or TFDS tiny_shakespeare's eval split), so a model pretrained on
                                  the rest has never read these speeches.

A sequence is [CLS] text [SEP] (pair [SEP]) when the tokenizer has special tokens (else just the text),
truncated to seq_len and padded with [PAD] (or 0) where `valid` is False.
"""

import collections
import dataclasses
import json
import os

import ml_collections
import numpy as np

from lm import jsonfile, workdir_files
from lm.batch import LabelledBatch
from lm.data import records as records_lib
from lm.data import text, tfds_source, tokenizers
from lm.data.dataset import take_rows

LABELS_FILE = "labels.json"


@dataclasses.dataclass
class Examples:
    """One split, tokenized and padded: every array has a leading example dimension E."""

    tokens: np.ndarray  # [E, T] int32
    valid: np.ndarray  # [E, T] bool
    token_types: np.ndarray  # [E, T] int32
    labels: np.ndarray  # [E] int32 (classify) or [E, T] int32 (tag, packed)
    weights: np.ndarray  # [E] or [E, T] float32: 1 where a label counts
    segment_ids: np.ndarray | None = None  # packed rows: [E, T], 1, 2, ... per text, 0 at padding
    positions: np.ndarray | None = None  # packed rows: [E, T], restarting at each text

    def __len__(self):
        return len(self.tokens)


@dataclasses.dataclass
class LabelledDataset:
    """Both splits of labelled examples, tokenized and padded (a lm/data/dataset.py Dataset)."""

    name: str
    tokenizer: tokenizers.Tokenizer
    label_names: list[str]
    train: Examples
    eval: Examples
    optimal_loss = None  # not known for real labels

    @property
    def units_per_token(self) -> dict[str, float]:
        return {}  # the loss is over labels, not over every token of a text: no bits per byte

    def train_batch(self, step: int, seed: int, batch_size: int, seq_len: int, rows=None) -> LabelledBatch:
        return take_rows(train_batch(self.train, step, seed, batch_size), rows)

    def eval_batches(self, batch_size: int, seq_len: int):
        return eval_batches(self.eval, batch_size)

    def eval_tokens(self) -> None:
        return None  # not one text

    def eval_pairs(self) -> None:
        return None  # no (source, target) pairs

    def describe(self) -> str:
        counts = [
            int(split.weights.sum()) if split.segment_ids is not None else len(split)
            for split in (self.train, self.eval)
        ]
        packed = (
            f" (packed into {len(self.train):,} / {len(self.eval):,} rows)"
            if self.train.segment_ids is not None
            else ""
        )
        return f"{counts[0]:,} train / {counts[1]:,} eval examples{packed}, {len(self.label_names)} labels"

    def save(self, workdir: str) -> None:
        """The label names, in the order of the classifier's outputs (a relaunch must keep that order)."""
        save_labels(self.label_names, workdir)


def load(data: ml_collections.ConfigDict, tokenizer, tag: bool, workdir: str | None = None) -> LabelledDataset:
    """Reads the configured labelled source and tokenizes both splits with `tokenizer`.

    Args:
      data: config.data.
      tokenizer: the (pretrained model's) tokenizer; None learns one from the training texts.
      tag: token labels (objective=tag) rather than one label per text.
      workdir: a workdir whose labels.json fixes the label vocabulary (a resumed or evaluated run);
        without one, the labels are learned from the training split.
    """
    name, train_rows, eval_rows = read_rows(data, tag)
    if tokenizer is None:  # no pretrained tokenizer: learn one from the labelled training texts
        texts = [" ".join(row[0]) if tag else row[0] for row in train_rows]
        tokenizer = tokenizers.build(data.tokenizer, "\n".join(texts), data.vocab_size, data.sentencepiece_type, True)
    label_names = load_labels(workdir) if workdir else None
    if label_names is None:
        values = [v for row in train_rows for v in (row[1] if tag else [row[1]])]
        label_names = sorted(set(map(str, values)))
    if len(label_names) < 2:
        raise ValueError(
            f"{name} has {len(label_names)} label value(s) in its training split; classification needs "
            f"at least 2. Check --config.data.label_field={data.label_field!r}."
        )
    index = {label: i for i, label in enumerate(label_names)}
    encode = _encode_tags if tag else _encode_texts
    splits = [encode(rows, tokenizer, index, data.seq_len, name) for rows in (train_rows, eval_rows)]
    if data.pack and not tag:
        pad_id = _pad_id(tokenizer)
        splits = [pack(split, pad_id) for split in splits]
    return LabelledDataset(name, tokenizer, label_names, *splits)


def pack(examples: Examples, pad_id: int) -> Examples:
    """Several texts per row, in order, each with its own segment id and positions from 0; a row
    takes texts until the next does not fit. Labels and weights move to each text's first token."""
    T = examples.tokens.shape[1]
    rows, current, used = [], [], 0
    for i, length in enumerate(examples.valid.sum(axis=1)):
        if current and used + length > T:
            rows.append(current)
            current, used = [], 0
        current.append(i)
        used += length
    if current:
        rows.append(current)
    R = len(rows)
    out = {
        name: np.zeros((R, T), dtype)
        for name, dtype in (
            ("tokens", np.int32),
            ("valid", bool),
            ("token_types", np.int32),
            ("labels", np.int32),
            ("weights", np.float32),
            ("segment_ids", np.int32),
            ("positions", np.int32),
        )
    }
    out["tokens"][:] = pad_id
    for r, members in enumerate(rows):
        start = 0
        for segment, i in enumerate(members, start=1):
            L = int(examples.valid[i].sum())
            span = slice(start, start + L)
            out["tokens"][r, span] = examples.tokens[i, :L]
            out["token_types"][r, span] = examples.token_types[i, :L]
            out["valid"][r, span] = True
            out["segment_ids"][r, span] = segment
            out["positions"][r, span] = np.arange(L)
            out["labels"][r, start] = examples.labels[i]
            out["weights"][r, start] = examples.weights[i]
            start += L
    return Examples(**out)


def read_rows(data: ml_collections.ConfigDict, tag: bool):
    """(name, train rows, eval rows); a row is (text, label, pair) or (words, tags, None)."""
    if data.task == "shakespeare_speakers":  # the text a language model on this corpus never trains on
        if data.path:
            held_out = text.split_text(text.read_text_files(data.path), data.val_fraction)[1]
        else:
            name = data.tfds_name or "tiny_shakespeare"
            held_out = text.read_tfds_text(name, data.eval_split, data.tfds_dir, data.tfds_text_key)
        names = [n.strip() for n in data.speakers.split(",") if n.strip()] or None
        rows = speaker_rows(held_out, data.num_speakers, names)
        return "shakespeare_speakers", *_hold_out(rows, data.eval_fraction)
    if data.path:
        rows = read_file(data.path, data, tag)
        if data.eval_path:
            return data.path, rows, read_file(data.eval_path, data, tag)
        return data.path, *_hold_out(rows, data.eval_fraction)
    if data.tfds_name:
        return data.tfds_name, *(read_tfds_rows(data, split) for split in (data.train_split, data.eval_split))
    raise ValueError(
        "Fine-tuning needs labelled data: set --config.data.path=FILE.csv|.tsv|.jsonl, "
        "--config.data.tfds_name=glue/sst2 (or another TFDS dataset), or "
        "--config.data.task=shakespeare_speakers."
    )


def speaker_rows(text: str, num_speakers: int, names: list[str] | None = None) -> list[tuple]:
    """Speeches ("NAME:\\nlines") of the named speakers, or of the num_speakers most frequent ones."""
    speeches = []
    for block in text.split("\n\n"):
        head, _, body = block.strip("\n").partition("\n")
        if head.endswith(":") and body.strip():
            speeches.append((body, head[:-1], None))
    counts = collections.Counter(s[1] for s in speeches)
    top = names or [name for name, _ in counts.most_common(num_speakers)]
    missing = [name for name in top if name not in counts]
    if missing:
        raise ValueError(
            f"No speeches by {missing} in the held-out text (its most frequent speakers: "
            f"{[n for n, _ in counts.most_common(8)]}). Fix --config.data.speakers."
        )
    return [s for s in speeches if s[1] in top]


def read_file(path: str, data: ml_collections.ConfigDict, tag: bool) -> list[tuple]:
    fields = [data.text_field, data.label_field] + ([data.text_pair_field] if data.text_pair_field else [])
    fix = "--config.data.text_field / label_field / text_pair_field"
    records = records_lib.read(path, "Labelled file", (".csv", ".tsv", ".jsonl"), fields, fix)
    pair = data.text_pair_field
    rows = [(r[data.text_field], r[data.label_field], r[pair] if pair else None) for r in records]
    if tag and not all(isinstance(r[0], list) and isinstance(r[1], list) and len(r[0]) == len(r[1]) for r in rows):
        raise ValueError(
            f"Token labels need JSONL rows whose {data.text_field!r} is a list of words and "
            f"{data.label_field!r} a list of as many tags ({path})."
        )
    if not tag and not all(isinstance(r[0], str) and isinstance(r[2], (str, type(None))) for r in rows):
        raise ValueError(
            f"A label per text needs rows whose {data.text_field!r} is a text ({path} has other values there). "
            "For a list of words with a tag each, use --config.objective=tag."
        )
    return rows


def read_tfds_rows(data: ml_collections.ConfigDict, split: str) -> list[tuple]:
    """(text, label, pair) rows of a TFDS split, from its text_field, label_field (and text_pair_field)."""
    features = {"text_field": data.text_field, "label_field": data.label_field}
    if data.text_pair_field:
        features["text_pair_field"] = data.text_pair_field
    rows = []
    for values in tfds_source.examples(data.tfds_name, split, data.tfds_dir, features):
        pair = str(values[2]) if data.text_pair_field else None
        rows.append((str(values[0]), int(values[1]), pair))
    return rows


def _hold_out(rows: list, fraction: float) -> tuple[list, list]:
    """Every k-th example (k = round(1 / fraction)) to eval: spread over the file, deterministic."""
    k = max(int(round(1.0 / fraction)), 2)
    return [r for i, r in enumerate(rows) if i % k != k - 1], [r for i, r in enumerate(rows) if i % k == k - 1]


def _frame(tokenizer, first: np.ndarray, second: np.ndarray | None, seq_len: int):
    """[CLS] first [SEP] (second [SEP]) with token types, truncated to seq_len."""
    specials = tokenizer.special_ids
    cls, sep = ([specials["[CLS]"]], [specials["[SEP]"]]) if "[CLS]" in specials else ([], [])
    ids = cls + list(first) + sep
    types = [0] * len(ids)
    if second is not None:
        ids += list(second) + sep
        types += [1] * (len(second) + len(sep))
    return ids[:seq_len], types[:seq_len]


def _pad_id(tokenizer) -> int:
    return tokenizer.special_ids.get("[PAD]", 0)  # without specials, padding is masked out anyway


def _pad(seqs: list[list[int]], seq_len: int, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    out = np.full((len(seqs), seq_len), pad_id, np.int32)
    valid = np.zeros((len(seqs), seq_len), bool)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
        valid[i, : len(s)] = True
    return out, valid


def _labels(values, index: dict, name: str):
    unknown = sorted({str(v) for v in values} - set(index))
    if unknown:
        raise ValueError(
            f"{name}: label(s) {unknown[:5]} are not among the training labels {list(index)[:10]}. "
            "Every eval label must occur in the training split."
        )
    return [index[str(v)] for v in values]


def _encode_texts(rows, tokenizer, index, seq_len, name) -> Examples:
    framed = [
        _frame(tokenizer, tokenizer.encode(t), None if p is None else tokenizer.encode(p), seq_len) for t, _, p in rows
    ]
    pad_id = _pad_id(tokenizer)
    tokens, valid = _pad([f[0] for f in framed], seq_len, pad_id)
    types, _ = _pad([f[1] for f in framed], seq_len, 0)
    labels = np.asarray(_labels([r[1] for r in rows], index, name), np.int32)
    return Examples(tokens, valid, types, labels, np.ones(len(rows), np.float32))


def _encode_tags(rows, tokenizer, index, seq_len, name) -> Examples:
    """Each word's pieces; its tag on the first piece (the others carry no loss)."""
    seqs, tags, weights = [], [], []
    offset = 1 if "[CLS]" in tokenizer.special_ids else 0  # the first word follows [CLS]
    for words, word_tags, _ in rows:
        pieces = [tokenizer.encode(w if i == 0 else " " + w) for i, w in enumerate(words)]
        ids, types = _frame(tokenizer, np.concatenate(pieces) if pieces else np.zeros(0, np.int32), None, seq_len)
        label_row, weight_row = np.zeros(seq_len, np.int32), np.zeros(seq_len, np.float32)
        position = offset
        for piece, t in zip(pieces, _labels(word_tags, index, name), strict=True):
            if position < len(ids):
                label_row[position], weight_row[position] = t, 1.0
            position += len(piece)
        seqs.append(ids)
        tags.append(label_row)
        weights.append(weight_row)
    pad_id = _pad_id(tokenizer)
    tokens, valid = _pad(seqs, seq_len, pad_id)
    return Examples(tokens, valid, np.zeros_like(tokens), np.stack(tags), np.stack(weights) * valid)


def train_batch(examples: Examples, step: int, seed: int, batch_size: int) -> LabelledBatch:
    """Epochs of a permutation drawn from (seed, epoch): the batch at step s depends only on (seed, s)."""
    E = len(examples)
    positions = np.arange(step * batch_size, (step + 1) * batch_size)
    epochs, index = np.divmod(positions, E)
    picks = np.empty(batch_size, np.int64)
    for epoch in np.unique(epochs):
        order = np.random.default_rng([seed, int(epoch)]).permutation(E)
        picks[epochs == epoch] = order[index[epochs == epoch]]
    return _batch(examples, picks)


def eval_batches(examples: Examples, batch_size: int):
    """Every example once, in order; the last batch is padded with weight-0 examples."""
    for start in range(0, len(examples), batch_size):
        picks = np.arange(start, start + batch_size)
        batch = _batch(examples, np.minimum(picks, len(examples) - 1))
        real = (picks < len(examples)).astype(np.float32)  # [B]
        batch["weights"] = batch["weights"] * real.reshape(-1, *([1] * (batch["weights"].ndim - 1)))
        yield batch


def _batch(examples: Examples, picks: np.ndarray) -> LabelledBatch:
    batch = {
        "inputs": examples.tokens[picks],
        "valid": examples.valid[picks],
        "token_types": examples.token_types[picks],
        "labels": examples.labels[picks],
        "weights": examples.weights[picks],
        "rows": picks.astype(np.int32),
    }
    if examples.segment_ids is not None:
        batch["segment_ids"], batch["positions"] = examples.segment_ids[picks], examples.positions[picks]
    return batch


def save_labels(label_names: list[str], workdir: str) -> None:
    """labels.json, written atomically (a crash never leaves half a file)."""
    workdir_files.write_atomically(os.path.join(workdir, LABELS_FILE), json.dumps(label_names))


def load_labels(workdir: str) -> list[str] | None:
    path = os.path.join(workdir, LABELS_FILE)
    if not os.path.exists(path):
        return None
    return jsonfile.read(path, jsonfile.WORKDIR_FIX.format(what="label names"), kind=list)
