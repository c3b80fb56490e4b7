"""A workdir's own files and the checks that keep one workdir to one model.

config.json      the resolved config of the run that trained it (written atomically)
tokenizer.json   (+ tokenizer.model / hf_tokenizer.json) the tokenizer: lm/data/tokenizers.py
labels.json      fine-tuning's label names: lm/data/labelled.py
data_cache/      token ids: lm/data/cache.py
checkpoints/     orbax checkpoints: lm/checkpoint.py
metrics.jsonl, tensorboard/   lm/metrics.py
"""

import json
import os

import ml_collections

from lm.models.config import HOW

CONFIG_FILE = "config.json"


def read_config(workdir: str) -> dict | None:
    """The config a workdir was trained with, or None when it has none."""
    path = os.path.join(workdir, CONFIG_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def write_config(config: ml_collections.ConfigDict, workdir: str) -> None:
    """The resolved config, written atomically (a crash never leaves half a file)."""
    path = os.path.join(workdir, CONFIG_FILE)
    with open(path + ".tmp", "w") as f:
        f.write(config.to_json(indent=2, sort_keys=True))
    os.replace(path + ".tmp", path)


def check_same_tokenizer(config: ml_collections.ConfigDict, saved: dict, workdir: str) -> None:
    """The workdir's tokenizer is the one the config asks for."""
    if saved["data"]["tokenizer"] != config.data.tokenizer:
        raise ValueError(
            f"--workdir={workdir} was trained with data.tokenizer={saved['data']['tokenizer']!r}, not "
            f"{config.data.tokenizer!r}. Use the config that trained it, or a fresh --workdir."
        )


def check_same_model(config: ml_collections.ConfigDict, saved: dict, workdir: str) -> None:
    """A workdir holds one model: its checkpoints only fit the model config that wrote them.

    The fields of lm/models/config.py's HOW (how the step computes, not what) may change.
    """
    ours = config.model.to_dict()
    theirs = saved.get("model", {})
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
