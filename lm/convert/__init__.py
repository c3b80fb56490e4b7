"""Hugging Face checkpoints in and out: a model directory (config.json + model.safetensors) <-> our model.

    hf_common.py   reading a directory's config and safetensors; torch's tensor layouts onto ours
    gpt2.py        GPT-2: read and write (export)
    bert.py        BERT: read
    neox.py        GPT-NeoX / Pythia: read
    llama.py       the Llama family (Llama, Qwen2, Mistral): read and write (export)
    t5.py          T5 (v1.0, v1.1, FLAN-T5), an encoder-decoder: read

Each converter maps a family's architecture onto options of the shared blocks (lm/models/), never onto a
copy of the model, and returns (model fields, params) for `lm/pretrained.py`.
"""

from lm.convert import bert, gpt2, llama, neox, t5
from lm.convert.hf_common import differences, is_hf_directory, model_config, read_config

__all__ = ["EXPORTS", "READERS", "is_hf_directory", "read_model", "write_model"]
# config.json's model_type -> reader
READERS = {"gpt2": gpt2.read, "bert": bert.read, "gpt_neox": neox.read, "t5": t5.read} | dict.fromkeys(
    llama.MODEL_TYPES, llama.read
)
# the families we export: name -> (the fields it fixes, whether it has grouped-query attention, writer)
EXPORTS = {"GPT-2": (gpt2.GPT2_EXPORTS, False, gpt2.write), "Llama": (llama.LLAMA_EXPORTS, True, llama.write)}


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


def write_model(directory: str, fields: dict, params, token_ids: dict | None = None) -> str:
    """Writes the model as Hugging Face files of the first family in EXPORTS that expresses it; returns the family.

    `token_ids` (bos_token_id, eos_token_id, pad_token_id: lm/convert/tokenizer.generation_ids) go into config.json.

    Raises:
      ValueError: no family expresses the model (what each would need changed), or params that do not fit.
    """
    c, refusals = model_config(fields), []
    for name, (family, free_heads, write) in EXPORTS.items():
        differ = differences(c, family, name, free_heads)
        if not differ:
            write(directory, fields, params, token_ids)
            return name
        refusals.append(f"Not {name}, as it has {', '.join(differ)}.")
    raise ValueError(f"No Hugging Face family we export expresses this model: {' '.join(refusals)}")
