"""The workdir's cache of token ids: a relaunch (resume, --mode=eval, --mode=bench) skips reading and tokenizing.

A cache file is named by a hash of everything that decides the ids: the source (each file's content, the
TFDS dataset, splits and prepared versions, or the built-in corpus's size), the split, the tokenizer's
whole serialization, its special tokens, and the code and libraries that read and encode the text. Any
change gives another name, so a file found under the name is right for this run. A file that cannot be
read is reported, ignored and rewritten.
"""

import hashlib
import json
import os
import uuid
import zipfile

import numpy as np
import sentencepiece
import tokenizers as hf_tokenizers

from lm import tokenizers

DIRECTORY = "data_cache"  # under the workdir
# The files of lm/ whose code turns text into ids: an edit to one of them may change the ids, so it
# changes every key (one re-tokenization) rather than relying on someone to bump a version number.
_CODE = ("data.py", "data_cache.py", "corpus.py", "tokenizers.py")


def path(directory: str, source: dict, tokenizer: tokenizers.Tokenizer, specials: bool) -> str:
    """The cache file for the ids of `source` under `tokenizer`.

    Args:
      directory: the cache directory (WORKDIR/data_cache).
      source: what decides the text of each split (data.source_fingerprint): JSON-serializable.
      tokenizer: the tokenizer that encodes it.
      specials: the `specials` argument of data.load.
    """
    parts = {
        "source": source,
        "tokenizer": tokenizer_digest(tokenizer),
        "specials": specials,
        "code": [file_digest(os.path.join(os.path.dirname(__file__), name)) for name in _CODE],
        "libraries": [np.__version__, sentencepiece.__version__, hf_tokenizers.__version__],
    }
    key = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    return os.path.join(directory, key[:32] + ".npz")


def tokenizer_digest(tokenizer: tokenizers.Tokenizer) -> str:
    """A hash of the tokenizer as saved in the workdir (a saved and reloaded tokenizer hashes the same)."""
    h = hashlib.sha256(json.dumps(tokenizer.to_json(), sort_keys=True).encode())
    if isinstance(tokenizer, tokenizers.SentencePieceTokenizer):
        h.update(tokenizer.model_proto)
    if isinstance(tokenizer, tokenizers.HFTokenizer):
        h.update(tokenizer.tokenizer.to_str().encode())
    return h.hexdigest()


def file_digest(file: str) -> str:
    with open(file, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def read(file: str) -> dict | None:
    """The Dataset fields that depend on the text, kept in `file`; None when there is none or it cannot be read."""
    if not os.path.exists(file):
        return None
    try:
        with np.load(file, allow_pickle=False) as f:
            return {
                "train": f["train"],
                "eval": f["eval"],
                "eval_bytes_per_token": float(f["eval_bytes_per_token"]),
                "eval_chars_per_token": float(f["eval_chars_per_token"]),
                "optimal_loss": float(f["optimal_loss"]) if "optimal_loss" in f.files else None,  # built-in corpus
            }
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        print(f"data cache: ignoring {file}, which cannot be read ({e}); tokenizing again", flush=True)
        return None


def write(file: str, fields: dict) -> None:
    """Keeps the fields in `file`, atomically: a crash or a concurrent writer never leaves half a file.

    A workdir that cannot be written (another user's, read-only, full) only costs the next launch a
    re-tokenization: that is reported, not raised.
    """
    tmp = f"{file}.{uuid.uuid4().hex}.tmp"  # unique: several hosts may share the workdir
    try:
        os.makedirs(os.path.dirname(file), exist_ok=True)
        with open(tmp, "wb") as f:
            np.savez(f, **{name: value for name, value in fields.items() if value is not None})
        os.replace(tmp, file)
    except OSError as e:
        print(f"data cache: cannot write {file} ({e}); the next launch tokenizes again", flush=True)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
