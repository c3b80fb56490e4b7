"""Tokenizers: byte, character, symbol (synthetic tasks), SentencePiece (BPE or unigram); saving and loading them.

The character vocabulary and the SentencePiece model are learned from the training split only; a
pretrained Hugging Face tokenizer (lm/data/hf_tokenizer.py) comes with a pretrained model. All are saved
in the workdir (`lm_tokenizer.json`, plus `tokenizer.model` for SentencePiece and `hf_tokenizer.json` for
Hugging Face) so that eval and sampling reuse exactly the tokenizer training used.

Special tokens ([PAD], [UNK], [CLS], [SEP], [MASK], [BOS], [EOS]) never come out of `encode` for the
tokenizers learned here; objectives and the data pipeline insert them. Byte and char tokenizers add them
after the regular ids only when asked (a causal LM on characters needs none, and nanoGPT's 65-symbol
vocabulary stays 65); SentencePiece models always have them, at ids 0-6.

Every tokenizer has: kind, vocab_size, special_ids, encode, decode, regular_ids, word_starts, to_json
(what lm_tokenizer.json holds), save_files (any other file it needs in a workdir) and fingerprint (what decides
its ids). lm/convert/tokenizer.py writes each as a Hugging Face tokenizer.json for an export.
"""

import io
import json
import os

import numpy as np
import sentencepiece as spm

from lm import jsonfile
from lm.data.hf_tokenizer import HFTokenizer

TOKENIZER_FILE = "lm_tokenizer.json"  # ours, in a workdir or beside token shards (tokenizer.json is Hugging Face's)
OLD_TOKENIZER_FILE = "tokenizer.json"  # its name in workdirs and shards made before 2026-12-07: read, never written
SENTENCEPIECE_FILE = "tokenizer.model"
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[BOS]", "[EOS]")


class _AppendedSpecials:
    """Special tokens at ids num_regular .. num_regular + 6 (byte and char tokenizers)."""

    def _init_specials(self, num_regular: int, specials: bool):
        self.num_regular = num_regular
        self.specials = specials
        names = SPECIAL_TOKENS if specials else ()
        self.special_ids = {name: num_regular + i for i, name in enumerate(names)}
        self.vocab_size = num_regular + len(names)

    def regular_ids(self) -> np.ndarray:
        return np.arange(self.num_regular, dtype=np.int32)

    def word_starts(self) -> np.ndarray | None:
        return None  # whole-word masking needs word pieces (SentencePiece)

    def _decode_special(self, i: int) -> str:
        return SPECIAL_TOKENS[i - self.num_regular]

    def save_files(self, workdir: str) -> None:
        del workdir  # lm_tokenizer.json holds all of it

    def fingerprint(self) -> bytes:
        return json.dumps(self.to_json(), sort_keys=True).encode()


class ByteTokenizer(_AppendedSpecials):
    """UTF-8 bytes (ids 0-255); every text encodes."""

    kind = "byte"

    def __init__(self, specials: bool = False):
        self._init_specials(256, specials)

    def encode(self, text: str) -> np.ndarray:
        return np.frombuffer(text.encode("utf-8"), np.uint8).astype(np.int32)

    def decode(self, ids) -> str:
        out, pending = [], []
        for i in map(int, ids):
            if i < 256:
                pending.append(i)
                continue
            out.append(bytes(pending).decode("utf-8", errors="replace") + self._decode_special(i))
            pending = []
        return "".join(out) + bytes(pending).decode("utf-8", errors="replace")

    def to_json(self) -> dict:
        return {"kind": self.kind, "specials": self.specials}


class CharTokenizer(_AppendedSpecials):
    """One id per character of the training text (nanoGPT's shakespeare_char vocabulary)."""

    kind = "char"

    def __init__(self, chars: str, specials: bool = False):
        self.chars = "".join(sorted(set(chars)))
        self._init_specials(len(self.chars), specials)
        self._lookup = np.full(max(map(ord, self.chars), default=0) + 1, -1, np.int32)
        self._lookup[[ord(ch) for ch in self.chars]] = np.arange(len(self.chars))

    def encode(self, text: str) -> np.ndarray:
        codes = np.frombuffer(text.encode("utf-32-le"), np.uint32)
        ids = np.where(codes < len(self._lookup), self._lookup[np.minimum(codes, len(self._lookup) - 1)], -1)
        if (ids < 0).any():
            unknown = sorted(set(chr(c) for c in codes[ids < 0]))
            raise ValueError(
                f"Text has {len(unknown)} character(s) outside the character vocabulary learned from the "
                f"training split: {''.join(unknown)[:40]!r}. Use only characters the training text contains, "
                "or a tokenizer that encodes any text: --config.data.tokenizer=byte (or sentencepiece)."
            )
        return ids.astype(np.int32)

    def decode(self, ids) -> str:
        return "".join(self.chars[i] if i < self.num_regular else self._decode_special(i) for i in map(int, ids))

    def to_json(self) -> dict:
        return {"kind": self.kind, "chars": self.chars, "specials": self.specials}


class SymbolTokenizer(_AppendedSpecials):
    """One id per whitespace-separated symbol of a fixed list (the synthetic tasks' numbers and signs); decoded
    with a space before each symbol, so that a prompt and its decoded continuation join as text."""

    kind = "symbols"

    def __init__(self, symbols: list[str], specials: bool = False):
        self.symbols = list(symbols)
        self._ids = {symbol: i for i, symbol in enumerate(self.symbols)}
        self._init_specials(len(self.symbols), specials)

    def encode(self, text: str) -> np.ndarray:
        unknown = [word for word in text.split() if word not in self._ids]
        if unknown:
            raise ValueError(
                f"Text has symbol(s) outside this task's vocabulary: {' '.join(unknown[:8])!r}. Write only the "
                f"task's symbols ({' '.join(self.symbols[:6])} ... {self.symbols[-1]}), separated by spaces."
            )
        return np.array([self._ids[word] for word in text.split()], np.int32)

    def decode(self, ids) -> str:
        names = (self.symbols[i] if i < self.num_regular else self._decode_special(i) for i in map(int, ids))
        return "".join(" " + name for name in names)

    def to_json(self) -> dict:
        return {"kind": self.kind, "symbols": self.symbols, "specials": self.specials}


class SentencePieceTokenizer:
    """SentencePiece BPE or unigram model, with byte fallback so that any text encodes."""

    kind = "sentencepiece"

    def __init__(self, model_proto: bytes):
        self.model_proto = model_proto
        self._sp = spm.SentencePieceProcessor(model_proto=model_proto)
        self.vocab_size = self._sp.get_piece_size()
        self.special_ids = {name: self._sp.piece_to_id(name) for name in SPECIAL_TOKENS}

    @classmethod
    def train(cls, text: str, vocab_size: int, model_type: str = "bpe") -> "SentencePieceTokenizer":
        model = io.BytesIO()
        # SentencePiece trains on sentences of at most 4192 bytes: cut longer lines into chunks.
        lines = [line[i : i + 1000] for line in text.split("\n") if line.strip() for i in range(0, len(line), 1000)]
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines),
            model_writer=model,
            vocab_size=vocab_size,
            model_type=model_type,
            hard_vocab_limit=False,  # a small text may support fewer pieces than asked for
            character_coverage=1.0,
            byte_fallback=True,  # newlines and unseen characters become byte pieces, never <unk>
            normalization_rule_name="identity",  # decode(encode(text)) == text
            add_dummy_prefix=False,
            remove_extra_whitespaces=False,
            split_by_whitespace=True,
            pad_id=0,
            unk_id=1,
            bos_id=5,
            eos_id=6,
            pad_piece="[PAD]",
            unk_piece="[UNK]",
            bos_piece="[BOS]",
            eos_piece="[EOS]",
            control_symbols=["[CLS]", "[SEP]", "[MASK]"],  # ids 2, 3, 4
            input_sentence_size=2_000_000,
            shuffle_input_sentence=True,
            num_threads=os.cpu_count() or 1,
            minloglevel=2,
        )
        return cls(model.getvalue())

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self._sp.encode(text), np.int32)

    def decode(self, ids) -> str:
        return self._sp.decode([int(i) for i in ids])

    def regular_ids(self) -> np.ndarray:
        special = set(self.special_ids.values())
        return np.array([i for i in range(self.vocab_size) if i not in special], np.int32)

    def word_starts(self) -> np.ndarray:
        """[V] bool: pieces that begin a word (a leading "▁", i.e. after whitespace)."""
        return np.array([self._sp.id_to_piece(i).startswith("▁") for i in range(self.vocab_size)])

    def to_json(self) -> dict:
        return {"kind": self.kind, "model": SENTENCEPIECE_FILE}

    def save_files(self, workdir: str) -> None:
        with open(os.path.join(workdir, SENTENCEPIECE_FILE), "wb") as f:
            f.write(self.model_proto)

    def fingerprint(self) -> bytes:
        return json.dumps(self.to_json(), sort_keys=True).encode() + self.model_proto


Tokenizer = ByteTokenizer | CharTokenizer | SymbolTokenizer | SentencePieceTokenizer | HFTokenizer


def build(
    kind: str, train_text: str, vocab_size: int = 1000, sentencepiece_type: str = "bpe", specials: bool = False
) -> Tokenizer:
    """A tokenizer of `kind` learned from `train_text` (the training split only)."""
    if kind == "byte":
        return ByteTokenizer(specials)
    if kind == "char":
        return CharTokenizer(train_text, specials)
    if kind == "hf":
        raise ValueError(
            "data.tokenizer='hf' is not learned from text: it is a Hugging Face tokenizer's. Set "
            "--config.data.tokenizer_path=DIR (tokenizer.json, or GPT-2's vocab.json and merges.txt) or "
            "--config.init_from=DIR (a Hugging Face model directory)."
        )
    required = 256 + len(SPECIAL_TOKENS) + len(set(train_text) - {"\n"})  # bytes, specials, characters
    if vocab_size < required:
        raise ValueError(
            f"data.vocab_size={vocab_size} is too small for SentencePiece on this text: byte fallback needs 256 "
            f"pieces, plus {len(SPECIAL_TOKENS)} special tokens and one per distinct character, {required} in all. "
            f"Set --config.data.vocab_size={max(required, 1000)} or more."
        )
    return SentencePieceTokenizer.train(train_text, vocab_size, sentencepiece_type)


def from_path(data, saved: Tokenizer | None = None) -> Tokenizer | None:
    """The Hugging Face tokenizer in data.tokenizer_path (data.tokenizer 'hf' without init_from), else `saved`
    (a workdir's: it must be that one)."""
    if not data.tokenizer_path:
        return saved
    named = HFTokenizer.from_directory(os.path.expanduser(data.tokenizer_path))
    if saved is not None and saved.fingerprint() != named.fingerprint():
        raise ValueError(
            f"The workdir was trained with another tokenizer than the one in data.tokenizer_path="
            f"{data.tokenizer_path}. Point it at the tokenizer the run was trained with, or use a fresh --workdir."
        )
    return named


def save(tokenizer: Tokenizer, workdir: str) -> None:
    tokenizer.save_files(workdir)
    with open(os.path.join(workdir, TOKENIZER_FILE), "w") as f:
        json.dump(tokenizer.to_json(), f)


def saved_file(workdir: str) -> str | None:
    """The path of the tokenizer saved in `workdir` (under its old name in an older one), or None."""
    for name in (TOKENIZER_FILE, OLD_TOKENIZER_FILE):
        if os.path.exists(os.path.join(workdir, name)):
            return os.path.join(workdir, name)
    return None


def load(workdir: str) -> Tokenizer | None:
    """The tokenizer saved in `workdir`, or None when there is none."""
    path = saved_file(workdir)
    if path is None:
        return None
    fix = jsonfile.WORKDIR_FIX.format(what="tokenizer")
    spec = jsonfile.read(path, fix)
    kind = jsonfile.field(spec, "kind", path, fix)
    if kind == "byte":
        return ByteTokenizer(spec.get("specials", False))
    if kind == "char":
        return CharTokenizer(jsonfile.field(spec, "chars", path, fix), spec.get("specials", False))
    if kind == "symbols":
        return SymbolTokenizer(jsonfile.field(spec, "symbols", path, fix), spec.get("specials", False))
    if kind == "hf":
        return HFTokenizer.from_workdir(workdir, spec)
    if kind != "sentencepiece":
        raise ValueError(f"{path} names an unknown tokenizer kind {kind!r}. {fix}")
    with open(os.path.join(workdir, jsonfile.field(spec, "model", path, fix)), "rb") as f:
        return SentencePieceTokenizer(f.read())
