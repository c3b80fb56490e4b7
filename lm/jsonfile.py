"""Reading the JSON files a run depends on (a workdir's config, tokenizer, labels and sweep status; a Hugging Face
directory's config, vocabulary and index): one reader, whose error names the file, what is wrong with it and
what to do, instead of a decoder's traceback."""

import json

KINDS = {dict: "a JSON object", list: "a JSON list"}
# The fix for a broken file that training wrote into a workdir (config, tokenizer, labels).
WORKDIR_FIX = (
    "It is the workdir's {what}, written when it trained: restore it from a copy, or move the workdir aside and "
    "train in a fresh --workdir."
)


def read(path: str, fix: str, kind: type = dict):
    """The JSON value of the file at `path`, which must be a `kind` (dict or list).

    Args:
      fix: what the user can do about a broken file ("Download it again from the model's repository.").
    Raises:
      ValueError: the file is unreadable, not UTF-8, not JSON, or not a `kind`; the message names the file and
        ends with `fix`.
    """
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} cannot be read as JSON ({e}). {fix}") from e
    if not isinstance(value, kind):
        raise ValueError(f"{path} holds a JSON {type(value).__name__}, not {KINDS[kind]}. {fix}")
    return value


def field(value: dict, key: str, path: str, fix: str):
    """value[key] of the JSON object read from `path`; a missing key is an error that names the file and `fix`."""
    if key not in value:
        raise ValueError(f"{path} has no {key!r} (it has {sorted(value)}). {fix}")
    return value[key]
