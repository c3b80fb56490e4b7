"""Token shards: a corpus tokenized once (--mode=prepare, lm/data/prepare.py) into flat files of token ids that
training reads window by window (the bytes of each window only), so that a run's memory does not grow with
the corpus. The files are flat arrays: np.memmap(path, dtype) reads one too.

    DIR/manifest.json      what made the shards (source, tokenizer hash, seed) and what each holds
    DIR/lm_tokenizer.json  the tokenizer (lm/data/tokenizers.py's files; a SentencePiece model beside it)
    DIR/train_00000.bin    token ids, uint16 when the vocabulary fits (else uint32), one EOS after each document
    DIR/val_00000.bin      the held-out documents, whole, in the same layout

The training split is read as one stream of tokens, the shards one after the other: the batch at step s is
windows at random starts drawn from (seed, s), as lm/data/text.py draws them from an array in memory, so a
resumed run sees the batches an uninterrupted one would. A window may run across two shards. The validation
split (val_fraction of the documents, a small one) is read into memory for the evaluators.
"""

import dataclasses
import hashlib
import os
import threading
import weakref

import numpy as np

from lm import jsonfile
from lm.batch import TextBatch
from lm.data import text, tokenizers

MANIFEST = "manifest.json"
FORMAT = 1
FIX = "Prepare the shards again: python launch.py --config=... --mode=prepare (lm/data/prepare.py)."


def dtype_for(vocab_size: int) -> str:
    """uint16 when every id fits (GPT-2's 50,257 do), else uint32."""
    return "uint16" if vocab_size <= 2**16 else "uint32"


def shard_name(split: str, index: int) -> str:
    return f"{split}_{index:05d}.bin"


MAX_OPEN = 128  # shard files a Stream keeps open


class Stream:
    """The shards of one split as one stream of token ids. A read takes only the bytes it asks for from the
    files (pread). Through a memory map, every page a read touches counts in the process's resident memory,
    and random windows over a larger corpus touch more of them (measured: 200 steps on a
    1 GB corpus peaked at 2.2x the memory of a 50 MB one through memory maps, at 1.02x with pread;
    tools/bench_shards.py)."""

    def __init__(self, directory: str, shards: list[dict], dtype: str):
        self.files, self.dtype = [], np.dtype(dtype)
        for shard in shards:
            path = os.path.join(directory, shard["file"])
            expected = shard["tokens"] * self.dtype.itemsize
            size = os.path.getsize(path) if os.path.exists(path) else None
            if size != expected:
                found = "is missing" if size is None else f"has {size:,} bytes"
                raise ValueError(
                    f"{path} {found}, but {os.path.join(directory, MANIFEST)} says {shard['tokens']:,} {dtype} "
                    f"tokens ({expected:,} bytes): the shard is truncated or not the one the manifest lists. {FIX}"
                )
            if shard["tokens"]:
                self.files.append(path)
        self.ends = np.cumsum([s["tokens"] for s in shards if s["tokens"]], dtype=np.int64)
        self._open()

    def __len__(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0

    def __getstate__(self) -> dict:  # another process (a loader's worker) opens the files again
        return {k: v for k, v in self.__dict__.items() if k not in ("_fds", "_lock")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._open()

    def _open(self) -> None:
        self._fds = {}  # shard index -> its open file
        self._lock = threading.Lock()
        weakref.finalize(self, _close, self._fds)  # when the stream goes, or at exit

    def _fd(self, i: int) -> int:
        """Shard i's file, kept open after its first read: an open per window made a batch of 480 x 1025 tokens
        2.2x slower to read from the page cache (tools/bench_loader.py). At most MAX_OPEN stay open (OpenWebText
        makes about 2,000 shards; a process may open 1,024 files by default): the longest open closes first."""
        fd = self._fds.get(i)
        if fd is None:
            if len(self._fds) >= MAX_OPEN:
                os.close(self._fds.pop(next(iter(self._fds))))
            fd = self._fds[i] = os.open(self.files[i], os.O_RDONLY)
        return fd

    def read(self, start: int, length: int) -> np.ndarray:
        """Tokens [start, start + length) of the stream, as int32 (any thread)."""
        with self._lock:  # a file is not closed under another thread's read
            return self._read(start, length)

    def _read(self, start: int, length: int) -> np.ndarray:
        out, first = [], int(np.searchsorted(self.ends, start, side="right"))
        for i in range(first, len(self.files)):
            offset = start - (int(self.ends[i - 1]) if i else 0)
            count = min(length, int(self.ends[i]) - start)
            data = os.pread(self._fd(i), count * self.dtype.itemsize, offset * self.dtype.itemsize)
            piece = np.frombuffer(data, self.dtype)
            out.append(piece)
            start, length = start + len(piece), length - len(piece)
            if not length:
                break
        return np.concatenate(out).astype(np.int32)


def _close(fds: dict) -> None:
    for fd in fds.values():
        os.close(fd)


@dataclasses.dataclass
class ShardsDataset:
    """Token shards as a lm/data/dataset.py Dataset: windows of the training stream, the validation split."""

    name: str
    tokenizer: tokenizers.Tokenizer
    train: Stream
    eval: np.ndarray  # [num_eval_tokens] int32, in memory
    units_per_token: dict  # {"byte": ..., "char": ...} of the validation text
    eos: int  # the token after each document
    document_mask: bool = False  # batches carry segment_ids and positions (data.document_mask)
    label_names: list = dataclasses.field(default_factory=list)
    optimal_loss: float | None = None

    def train_batch(self, step: int, seed: int, batch_size: int, seq_len: int, rows=None) -> TextBatch:
        """nanoGPT's get_batch over the whole stream: the same draws as lm/data/text.py's random_windows. Only
        the windows of `rows` are read (a process of a multi-host run reads its own)."""
        starts = np.random.default_rng([seed, step]).integers(0, len(self.train) - seq_len, size=batch_size)
        rows = np.arange(batch_size) if rows is None else np.asarray(rows)
        windows = np.stack([self.train.read(int(s), seq_len + 1) for s in starts[rows]])  # [rows, T + 1]
        batch = {"inputs": windows[:, :-1], "targets": windows[:, 1:], "rows": rows.astype(np.int32)}
        return self._masked(batch)

    def eval_batches(self, batch_size: int, seq_len: int):
        return map(self._masked, text.eval_batches(self.eval, batch_size, seq_len))

    def _masked(self, batch: TextBatch) -> TextBatch:
        if self.document_mask:
            batch["segment_ids"], batch["positions"] = documents_of(batch["inputs"], self.eos)
        return batch

    def eval_tokens(self) -> np.ndarray:
        return self.eval

    def eval_pairs(self) -> None:
        return None  # no (source, target) pairs

    def describe(self) -> str:
        return f"{len(self.train):,} train tokens in {len(self.train.files)} shards / {len(self.eval):,} eval tokens"

    def save(self, workdir: str) -> None:
        del workdir  # the shards are what a relaunch reads: nothing to keep


def read_manifest(directory: str) -> dict:
    """The manifest of the shards in `directory`, its format checked."""
    path = os.path.join(directory, MANIFEST)
    if not os.path.isdir(directory) or not os.path.exists(path):
        raise ValueError(
            f"data.shards={directory!r} holds no {MANIFEST}: it is not a directory of token shards, or their "
            f"preparation did not finish. {FIX}"
        )
    manifest = jsonfile.read(path, FIX)
    if jsonfile.field(manifest, "format", path, FIX) != FORMAT:
        raise ValueError(f"{path} is of format {manifest['format']!r}; this version reads format {FORMAT}. {FIX}")
    for key in ("dtype", "eos", "tokenizer", "splits"):
        jsonfile.field(manifest, key, path, FIX)
    return manifest


def load(data, tokenizer: tokenizers.Tokenizer | None = None) -> ShardsDataset:
    """The shards of data.shards, checked against their manifest (sizes) and against `tokenizer` (a workdir's or
    a pretrained model's: it must be the one that made them)."""
    directory = data.shards
    manifest = read_manifest(directory)
    own = tokenizers.load(directory)
    if own is None:
        raise ValueError(f"{directory} has no {tokenizers.TOKENIZER_FILE} beside its shards. {FIX}")
    made_with = manifest["tokenizer"]["sha256"]
    if fingerprint(own) != made_with:
        raise ValueError(f"{tokenizers.saved_file(directory)} is not the tokenizer its shards were made with. {FIX}")
    if tokenizer is not None and fingerprint(tokenizer) != made_with:
        raise ValueError(
            f"data.shards={directory!r} was made with a {manifest['tokenizer']['kind']} tokenizer of "
            f"{manifest['tokenizer']['vocab_size']:,} tokens (sha256 {made_with[:12]}), but this run's tokenizer is a "
            f"{tokenizer.kind} one of {tokenizer.vocab_size:,} (sha256 {fingerprint(tokenizer)[:12]}), from its "
            "workdir or init_from. Prepare the shards with this run's tokenizer, or train in a fresh --workdir "
            "(without init_from) to use theirs."
        )
    train = Stream(directory, manifest["splits"]["train"], manifest["dtype"])
    validation = manifest["splits"]["val"]
    eval_ids = Stream(directory, validation, manifest["dtype"]).read(0, sum(s["tokens"] for s in validation))
    text.check_length(data, range(len(train)), eval_ids)  # a window in each split (it reads their lengths only)
    units = {unit: sum(s[unit + "s"] for s in validation) / len(eval_ids) for unit in ("byte", "char")}
    return ShardsDataset(directory, own, train, eval_ids, units, manifest["eos"], bool(data.document_mask))


def documents_of(inputs: np.ndarray, eos: int) -> tuple[np.ndarray, np.ndarray]:
    """([B, T] the document of each token: a new one starts after each EOS; [B, T] its position in it)."""
    ends = inputs == eos
    segment_ids = np.concatenate([np.zeros_like(ends[:, :1], np.int32), np.cumsum(ends, axis=1)[:, :-1]], axis=1)
    index = np.broadcast_to(np.arange(inputs.shape[1]), inputs.shape)
    starts = np.where(np.concatenate([np.ones_like(ends[:, :1]), ends[:, :-1]], axis=1), index, 0)
    positions = index - np.maximum.accumulate(starts, axis=1)
    return segment_ids.astype(np.int32), positions.astype(np.int32)


def fingerprint(tokenizer: tokenizers.Tokenizer) -> str:
    """The hash that names a tokenizer in a manifest: of its whole serialization."""
    return hashlib.sha256(tokenizer.fingerprint()).hexdigest()
