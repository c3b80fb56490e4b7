"""--mode=export: the workdir's latest checkpoint as a Hugging Face directory.

It is written as the first family of lm/convert's EXPORTS that expresses the model (GPT-2, Llama, ...).

    python launch.py --config=experiments/shakespeare_char.py:cpu --workdir=/tmp/sc --mode=export --out=/tmp/sc_hf
"""

import os

from absl import flags

OUT = flags.DEFINE_string(
    "out", None, "export: the directory for the Hugging Face files; sample: a JSONL file of the samples"
)


def run(config, workdir: str, experiment: str) -> None:
    if not OUT.value:
        raise ValueError("--mode=export needs --out=DIR, the directory for the Hugging Face files.")
    export(config, workdir, OUT.value)


def export(config, workdir: str, directory: str) -> None:
    """Writes config.json and model.safetensors; with a Hugging Face tokenizer (init_from GPT-2) also its
    vocab.json and merges.txt, so that transformers (and init_from) load the directory whole."""
    from lm import console, convert
    from lm.run import prepare

    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ValueError(f"--out={directory} is a file. Pass a directory (new, or one to write the files into).")
    run = prepare(config, workdir, restore="required", data=False)
    try:
        family = convert.write_model(directory, run.config.model.to_dict(), run.state.params)
        written = ["config.json", "model.safetensors", *run.tokenizer.save_vocab(directory)]
    except OSError as e:  # read-only, missing parent on a read-only file system, full disk
        raise ValueError(
            f"Cannot write the export into --out={directory} ({e.strerror or e}). Pass a directory you can write to "
            "(with room for the weights)."
        ) from e
    console.log(f"exported step {int(run.state.step)} of {workdir} to {directory} as {family}: {', '.join(written)}")
