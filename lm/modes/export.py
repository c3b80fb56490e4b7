"""--mode=export: the workdir's latest checkpoint as a Hugging Face directory that loads whole.

The model is written as the first family of lm/convert's EXPORTS that expresses it (GPT-2, Llama, ...), the
tokenizer as tokenizer.json + tokenizer_config.json (lm/convert/tokenizer.py), and generate()'s token ids as
generation_config.json, so that AutoTokenizer, AutoModelForCausalLM and `lm_eval --model hf` read it as it is.
A pretrained model (init_from) exports without training: its weights, where the workdir has no checkpoint.

    python launch.py --config=experiments/shakespeare_char.py:cpu --workdir=/tmp/sc --mode=export --out=/tmp/sc_hf
"""

import json
import os

from absl import flags

OUT = flags.DEFINE_string(
    "out", None, "export: the directory for the Hugging Face files; sample: a JSONL file of the samples"
)
GENERATION_CONFIG_FILE = "generation_config.json"


def run(config, workdir: str, experiment: str) -> None:
    if not OUT.value:
        raise ValueError("--mode=export needs --out=DIR, the directory for the Hugging Face files.")
    export(config, workdir, OUT.value)


def export(config, workdir: str, directory: str) -> list[str]:
    """Writes config.json, model.safetensors, the tokenizer's files and generation_config.json into `directory`;
    returns their names."""
    from lm import console, convert
    from lm.convert import tokenizer as tokenizer_files
    from lm.run import prepare

    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ValueError(f"--out={directory} is a file. Pass a directory (new, or one to write the files into).")
    run = prepare(config, workdir, restore="required", data=False)
    token_ids = tokenizer_files.generation_ids(run.tokenizer)
    try:
        family = convert.write_model(directory, run.config.model.to_dict(), run.state.params, token_ids)
        written = ["config.json", "model.safetensors"]
        written += tokenizer_files.save(run.tokenizer, directory, run.config.model.max_len)
        with open(os.path.join(directory, GENERATION_CONFIG_FILE), "w") as f:
            json.dump(token_ids, f, indent=2)
        written.append(GENERATION_CONFIG_FILE)
    except OSError as e:  # read-only, missing parent on a read-only file system, full disk
        raise ValueError(
            f"Cannot write the export into --out={directory} ({e.strerror or e}). Pass a directory you can write to "
            "(with room for the weights)."
        ) from e
    source = f"step {int(run.state.step)} of {workdir}" if int(run.state.step) else f"{config.init_from}'s weights"
    console.log(f"exported {source} to {directory} as {family}: {', '.join(written)}")
    return written
