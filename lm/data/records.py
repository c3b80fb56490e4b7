"""The records of a labelled or paired data file: .csv or .tsv (a header row names the fields) or .jsonl (a JSON
object a line). One reader for both kinds of data, whose errors name the file and the fix."""

import csv
import json
import os

DELIMITERS = {".csv": ",", ".tsv": "\t"}


def read(path: str, what: str, formats: tuple[str, ...], fields: list[str], fields_fix: str) -> list[dict]:
    """Every record of the file at `path`, each a dict of its fields.

    Args:
      what: the file's role, for messages ("Labelled file", "Pairs file").
      formats: the extensions the data takes, e.g. (".csv", ".tsv", ".jsonl").
      fields: the fields a record must have; fields_fix: the settings that name them, for the message.
    Raises:
      ValueError: a missing file, another format, undecodable content, no records, a missing field.
    """
    names = f"{', '.join(formats[:-1])} nor {formats[-1]}" if len(formats) > 1 else formats[0]
    if not os.path.isfile(path):
        raise ValueError(
            f"{what} {path!r} does not exist. Pass a {' or '.join(formats)} file with --config.data.path=FILE "
            "(and --config.data.eval_path=FILE for a separate eval split)."
        )
    ext = os.path.splitext(path)[1].lower()
    if ext not in formats:
        raise ValueError(f"{what} {path!r} is neither {names}. Convert it, or name it by its format.")
    csv.field_size_limit(2**31 - 1)  # a long text in one field is data, not damage (the default stops at 128 KB)
    try:
        with open(path, encoding="utf-8", newline="") as f:
            if ext == ".jsonl":
                records = [json.loads(line) for line in f if line.strip()]
            else:
                records = list(csv.DictReader(f, delimiter=DELIMITERS[ext]))
    except (UnicodeDecodeError, json.JSONDecodeError, csv.Error) as e:
        raise ValueError(f"{path} cannot be read as {ext[1:].upper()} ({e}). Fix the file.") from e
    if not records:
        raise ValueError(f"{what} {path!r} has no records.")
    if not all(isinstance(r, dict) for r in records):
        raise ValueError(f"{path} has lines that are not JSON objects: each line must be one record. Fix the file.")
    missing = [k for k in fields if k not in records[0]]
    if missing:
        raise ValueError(
            f"{path} has no field(s) {missing} (it has {sorted(records[0])}). Set {fields_fix} to its column names."
        )
    for number, record in enumerate(records, 1):
        lacking = [k for k in fields if record.get(k) is None]  # a short CSV row, a JSON line without it or null
        if lacking:
            raise ValueError(f"{path}: record {number} has no value for {lacking}. Fix or remove that record.")
    return records
