"""A workdir's own files and the checks that keep one workdir to one model.

config.json      the resolved config of the run that trained it (written atomically)
lm_tokenizer.json  (+ tokenizer.model / hf_tokenizer.json) the tokenizer: lm/data/tokenizers.py (tokenizer.json
                   in a workdir made before 2026-12-07)
labels.json      fine-tuning's label names: lm/data/labelled.py
data_cache/      token ids: lm/data/cache.py
checkpoints/     orbax checkpoints: lm/checkpoint.py
metrics.jsonl, tensorboard/   lm/metrics.py
"""

import contextlib
import errno
import fcntl
import os
import socket

import ml_collections

from lm import jsonfile
from lm.models.config import HOW, complete

CONFIG_FILE = "config.json"
LOCK_FILE = "lock"


class Lock:
    """The workdir's lock, held by one training run at a time (`acquire`, then `release` or process exit)."""

    def __init__(self, workdir: str):
        self.path = os.path.join(workdir, LOCK_FILE)
        self._file = None

    def acquire(self) -> None:
        """Takes the lock, or refuses with the holder's process id.

        Raises:
          ValueError: another process holds it, or the workdir cannot be written.
        """
        try:
            self._file = open(self.path, "a+")
        except OSError as e:
            raise ValueError(
                f"Cannot write to the workdir {os.path.dirname(self.path)} ({e.strerror}). Check its permissions "
                "and free space, or choose another --workdir."
            ) from e
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            self._file.seek(0)
            holder = self._file.read().strip() or "another process"
            self._file.close()
            self._file = None
            raise ValueError(
                f"--workdir={os.path.dirname(self.path)} is in use by a training run ({holder}). Two runs on one "
                "workdir would overwrite each other's checkpoints and metrics: wait for it to end (or stop it), "
                "or use another --workdir."
            ) from e
        self._file.seek(0)
        self._file.truncate()
        self._file.write(f"process {os.getpid()} on {socket.gethostname()}\n")
        self._file.flush()

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the file releases the flock
            self._file = None


# What a workdir holds, each a file or a directory: one of the other kind is damage, refused before anything is
# written (a checkpoints/ that is a file would read as "no checkpoint", and the run restart from step 0 over
# the workdir's record).
STRUCTURE = {
    CONFIG_FILE: "file", "lm_tokenizer.json": "file", "tokenizer.json": "file", "labels.json": "file",
    "metrics.jsonl": "file", "checkpoints": "directory", "data_cache": "directory", "tensorboard": "directory",
    "harness": "directory", "harness_tasks": "directory", "eval": "directory", "profile": "directory",
    "wandb": "directory",
}  # fmt: skip


def check_structure(workdir: str) -> None:
    """Raises ValueError naming each entry of the workdir that is not the kind of thing it should be."""
    wrong = []
    for name, kind in STRUCTURE.items():
        path = os.path.join(workdir, name)
        if os.path.lexists(path) and os.path.isdir(path) != (kind == "directory"):
            wrong.append(f"{name} should be a {kind}")
    if os.path.lexists(workdir) and not os.path.isdir(workdir):
        wrong = ["the workdir itself is a file, not a directory"]
    if wrong:
        raise ValueError(
            f"--workdir={workdir} is damaged: {'; '.join(wrong)}. Nothing was changed. Restore it from a copy, or "
            "move it aside and run in a fresh --workdir."
        )


def read_config(workdir: str) -> dict | None:
    """The config a workdir was trained with, or None when it has none.

    Raises:
      ValueError: a config.json that is not a JSON object of a config (named, with the fix).
    """
    path = os.path.join(workdir, CONFIG_FILE)
    if not os.path.exists(path):
        return None
    fix = (
        "It records the config that trained the workdir: restore it from a copy, or move the workdir aside and "
        "train in a fresh --workdir."
    )
    saved = jsonfile.read(path, fix)
    if not isinstance(jsonfile.field(saved, "model", path, fix), dict):
        raise ValueError(f"{path} is not the config of a run (its 'model' is not a section). {fix}")
    return saved


def write_config(config: ml_collections.ConfigDict, workdir: str) -> None:
    """The resolved config, written atomically."""
    write_atomically(os.path.join(workdir, CONFIG_FILE), config.to_json(indent=2, sort_keys=True))


def write_atomically(path: str, content: str | bytes) -> None:
    """`content` (text, or bytes) into `path` through a temporary file and a rename: a crash never leaves half a
    file, and a failed write (a full disk) leaves no temporary file.

    Raises:
      OSError: the write failed, naming `path` (lm/cli.py reports it in a sentence).
    """
    with naming(path):
        try:
            with open(path + ".tmp", "wb") as f:
                f.write(content.encode("utf-8") if isinstance(content, str) else content)
            os.replace(path + ".tmp", path)
        except OSError:
            if os.path.isfile(path + ".tmp"):
                os.remove(path + ".tmp")
            raise


@contextlib.contextmanager
def naming(path: str):
    """An OSError inside (a full disk fails a write, a flush) raised again naming `path`, which a write's own
    error does not: lm/cli.py then says which file could not be written."""
    try:
        yield
    except OSError as e:
        raise OSError(e.errno, e.strerror, path) from e


def check_same_tokenizer(config: ml_collections.ConfigDict, saved: dict, workdir: str) -> None:
    """The workdir's tokenizer is the one the config asks for."""
    if saved["data"]["tokenizer"] != config.data.tokenizer:
        raise ValueError(
            f"--workdir={workdir} was trained with data.tokenizer={saved['data']['tokenizer']!r}, not "
            f"{config.data.tokenizer!r}. Use the config that trained it, or a fresh --workdir."
        )


def changed_fields(config: ml_collections.ConfigDict, saved: dict, section: str, ignore=()) -> list[str]:
    """The fields of `section` (but `ignore`) whose value differs between the saved config and this one."""
    ours, theirs = config[section].to_dict(), saved.get(section, {})
    return [
        f"{section}.{k}: {theirs[k]!r} then, {ours[k]!r} now"
        for k in sorted(ours)
        if k in theirs and theirs[k] != ours[k] and k not in ignore
    ]


def check_same_model(config: ml_collections.ConfigDict, saved: dict, workdir: str) -> None:
    """A workdir holds one model: its checkpoints only fit the model config that wrote them.

    The fields of lm/models/config.py's HOW (how the step computes, not what) may change.
    """
    ours = config.model.to_dict()
    theirs = complete(saved["model"])  # fields added since that workdir was trained: their values then
    differ = [
        f"model.{k}: {theirs.get(k)!r} in the workdir, {ours.get(k)!r} now"
        for k in sorted(ours)
        if theirs.get(k) != ours.get(k) and k not in HOW
    ]
    if differ:
        raise ValueError(
            f"--workdir={workdir} holds a run of a different model ({'; '.join(differ)}). Pass the config that "
            "trained it (its config.json lists every field), or use a fresh --workdir for the new model."
        )
