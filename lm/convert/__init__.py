"""Hugging Face checkpoints in and out: a model directory (config.json + model.safetensors) <-> our model.

    hf_common.py   reading a directory's config and safetensors; torch's tensor layouts onto ours
    gpt2.py        GPT-2: read and write (export)
    bert.py        BERT: read

Each converter maps a family's architecture onto options of the shared blocks (lm/models/), never onto a
copy of the model, and returns (model fields, params) for `lm/pretrained.py`.
"""

from lm.convert import bert, gpt2
from lm.convert.hf_common import is_hf_directory, read_config

__all__ = ["READERS", "is_hf_directory", "read_model"]
READERS = {"gpt2": gpt2.read, "bert": bert.read}  # config.json's model_type -> reader


def read_model(directory: str) -> tuple[dict, dict]:
    """(model fields, params) from a Hugging Face directory, by the reader config.json's "model_type" names.

    Raises:
      ValueError: another model_type (named, with the supported ones), or what the reader raises.
    """
    hf, config_path = read_config(directory, None)
    model_type = hf.get("model_type")
    if model_type not in READERS:
        raise ValueError(
            f"{config_path} has model_type {model_type!r}; the Hugging Face models we read are {', '.join(READERS)}."
        )
    return READERS[model_type](directory)
