"""The workdir's cache of token ids: a relaunch (resume, --mode=eval) skips reading and tokenizing.

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

from lm import console
from lm.data import tokenizers

DIRECTORY = "data_cache"  # under the workdir
# The code that turns text into ids is the lm.data package: an edit to any of its modules may change the
# ids, so it changes every key (one re-tokenization) rather than relying on someone to bump a version.
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def key(source: dict, tokenizer: tokenizers.Tokenizer, specials: bool) -> str:
    """The name of the cache file for the ids of `source` under `tokenizer`.

    Args:
      source: what decides the text of each split (text.source_fingerprint): JSON-serializable.
      tokenizer: the tokenizer that encodes it.
      specials: the `specials` argument of text.load.
    """
    parts = {
        "source": source,
        "tokenizer": hashlib.sha256(tokenizer.fingerprint()).hexdigest(),
        "specials": specials,
        "code": code_digest(PACKAGE_DIR),
        "libraries": [np.__version__, sentencepiece.__version__, hf_tokenizers.__version__],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def path(workdir: str, cache_key: str) -> str:
    return os.path.join(workdir, DIRECTORY, cache_key + ".npz")


def code_digest(package_dir: str) -> dict[str, str]:
    """module name -> hash of its source, for every module of the package at `package_dir`: found on
    disk, so a module added, moved or renamed changes the key instead of breaking every launch."""
    package = os.path.basename(package_dir)
    return {
        f"{package}.{os.path.splitext(name)[0]}": file_digest(os.path.join(package_dir, name))
        for name in sorted(os.listdir(package_dir))
        if name.endswith(".py")
    }


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
        console.log(f"data cache: ignoring {file}, which cannot be read ({e}); tokenizing again")
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
        console.log(f"data cache: cannot write {file} ({e}); the next launch tokenizes again")
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
