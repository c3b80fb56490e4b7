"""--mode=sample: continuations of prompts from the workdir's latest checkpoint (or init_from's weights).

    python launch.py --config=experiments/shakespeare_char.py:cpu --workdir=/tmp/sc --mode=sample \\
        --prompt="ROMEO:" --num_samples=3
    python launch.py --config=experiments/gpt2.py --config.init_from=~/models/gpt2 --mode=sample \\
        --prompt="Hello, my name is" --num_samples=5
    python launch.py --config=experiments/seq2seq_tasks.py:transformer --workdir=workdirs/reverse_transformer \\
        --mode=sample --prompt_file=prompts.txt --out=samples.jsonl --step=2000

--prompt_file takes a prompt a line, or JSONL records with a "prompt" (or "source") field, such as a decoded
eval's WORKDIR/eval/step_N/decoded.jsonl. --out writes one JSON record per prompt and sample: prompt, sample
(its index), continuation, num_tokens and log_probability (lm/decoding/text.py's generate_samples), in
batches of BATCH prompts, instead of printing the samples.

Its flags write the config's `sample` section (configure), in every mode: training's end-of-run samples
read them too.
"""

import json
import os

from absl import flags

PROMPT = flags.DEFINE_multi_string(
    "prompt", None, "sample: text to continue (default: config.sample.prompt); repeat for a batch of prompts"
)
PROMPT_FILE = flags.DEFINE_string(
    "prompt_file", None, "sample: prompts to continue, one a line, or JSONL records with a prompt (or source) field"
)
BATCH = 64  # prompts decoded together from a --prompt_file
# flag -> the config.sample field it writes
FIELDS = {
    "num_samples": flags.DEFINE_integer("num_samples", None, "sample: how many continuations of each prompt"),
    "max_new_tokens": flags.DEFINE_integer("max_new_tokens", None, "sample: tokens to generate"),
    "temperature": flags.DEFINE_float("temperature", None, "sample: softmax temperature; 0 is greedy"),
    "top_k": flags.DEFINE_integer("top_k", None, "sample: keep the k most likely tokens (0: all)"),
    "top_p": flags.DEFINE_float("top_p", None, "sample: keep the smallest set with this probability (1: all)"),
    "repetition_penalty": flags.DEFINE_float("repetition_penalty", None, "sample: > 1 discourages repeated tokens"),
    "num_beams": flags.DEFINE_integer("num_beams", None, "sample: > 1 searches this many beams (instead of sampling)"),
    "length_penalty": flags.DEFINE_float(
        "length_penalty", None, "sample: beam search's alpha in ((5 + len) / 6)^alpha"
    ),
    "seed": flags.DEFINE_integer("sample_seed", None, "sample: random seed of the samples (config.sample.seed)"),
}
STOP = flags.DEFINE_multi_string("stop", None, "sample: a string that ends a continuation (repeatable)")


def configure(config) -> None:
    """Writes the flags that were given into config.sample."""
    for key, flag in FIELDS.items():
        if flag.value is not None:
            config.sample[key] = flag.value
    if STOP.value:
        config.sample.stop = tuple(STOP.value)
    if PROMPT.value:
        config.sample.prompt = PROMPT.value[0]


def run(config, workdir: str, experiment: str) -> None:
    from lm.modes import export  # whose --out flag this mode reads too

    prompts = PROMPT.value
    if PROMPT_FILE.value:
        if PROMPT.value:
            raise ValueError("--prompt and --prompt_file are both given: pass one of them.")
        prompts = read_prompts(PROMPT_FILE.value)
    if export.OUT.value:
        write_samples(config, workdir, prompts, export.OUT.value)
    else:
        sample(config, workdir, prompts)


def sample(config, workdir: str, prompts: list[str] | None = None) -> list[str]:
    """Continuations of each prompt (default config.sample.prompt) from the latest checkpoint, printed."""
    from lm.decoding.text import print_samples
    from lm.run import prepare

    run = prepare(config, workdir, restore="required", data=False)
    return print_samples(run.model, run.tokenizer, run.state.params, run.config.sample, prompts)


def write_samples(config, workdir: str, prompts: list[str] | None, out: str) -> list[dict]:
    """generate_samples' records of every prompt, written to `out` as JSONL (BATCH prompts at a time) and
    returned."""
    from lm import console, workdir_files
    from lm.decoding.text import encode_prompt, generate_samples
    from lm.run import prepare

    if os.path.isdir(out):
        raise ValueError(f"--out={out} is a directory. Pass the path of the JSONL file to write.")
    run = prepare(config, workdir, restore="required", data=False)
    prompts = [run.config.sample.prompt] if prompts is None else prompts
    for prompt in prompts:  # every prompt checked before the first is decoded
        encode_prompt(run.model, run.tokenizer, run.config.sample, prompt)
    records = []
    for start in console.progress(range(0, len(prompts), BATCH), f"sampling {len(prompts)} prompts"):
        batch = prompts[start : start + BATCH]
        records += generate_samples(run.model, run.tokenizer, run.state.params, run.config.sample, batch)
        console.log(f"sample: {min(start + BATCH, len(prompts))} of {len(prompts)} prompts")
    try:
        workdir_files.write_atomically(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    except OSError as e:
        raise ValueError(f"Cannot write --out={out} ({e.strerror}). Choose a path that can be written.") from e
    console.log(f"sample: {len(records)} samples of {len(prompts)} prompts written to {out}")
    return records


def read_prompts(path: str) -> list[str]:
    """The prompts of --prompt_file: a prompt a line (empty lines left out), or .jsonl records with a prompt
    (or source) field."""
    if not os.path.isfile(path):
        raise ValueError(f"--prompt_file={path} does not exist (or is not a file). Pass a file of prompts.")
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.rstrip("\n") for line in f if line.strip()]
    except UnicodeDecodeError as e:
        raise ValueError(f"--prompt_file={path} is not UTF-8 text ({e}). Convert it to UTF-8.") from e
    if not path.endswith(".jsonl"):
        prompts = lines
    else:
        prompts = []
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"--prompt_file={path}, line {number}, is not JSON ({e}). Fix that line.") from e
            field = next((k for k in ("prompt", "source") if isinstance(record, dict) and k in record), None)
            if field is None or not isinstance(record[field], str):
                raise ValueError(
                    f"--prompt_file={path}, line {number}, has no text field prompt (or source). Give each record one."
                )
            prompts.append(record[field])
    if not prompts:
        raise ValueError(f"--prompt_file={path} holds no prompt. Write one a line.")
    return prompts
