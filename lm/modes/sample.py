"""--mode=sample: continuations of prompts from the workdir's latest checkpoint (or init_from's weights).

    python launch.py --config=experiments/shakespeare_char.py:cpu --workdir=/tmp/sc --mode=sample \\
        --prompt="ROMEO:" --num_samples=3
    python launch.py --config=experiments/gpt2.py --config.init_from=~/models/gpt2 --mode=sample \\
        --prompt="Hello, my name is" --num_samples=5

Its flags write the config's `sample` section (configure), in every mode: training's end-of-run samples
read them too.
"""

from absl import flags

PROMPT = flags.DEFINE_multi_string(
    "prompt", None, "sample: text to continue (default: config.sample.prompt); repeat for a batch of prompts"
)
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
    sample(config, workdir, PROMPT.value)


def sample(config, workdir: str, prompts: list[str] | None = None) -> list[str]:
    """Continuations of each prompt (default config.sample.prompt) from the latest checkpoint, printed."""
    from lm.decoding.text import print_samples
    from lm.run import prepare

    run = prepare(config, workdir, restore="required", data=False)
    return print_samples(run.model, run.tokenizer, run.state.params, run.config.sample, prompts)
