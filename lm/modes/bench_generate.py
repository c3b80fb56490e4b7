"""--mode=bench_generate: generation speed with and without the KV cache; no workdir.

lm/decoding/bench.py times the experiment's model with fresh weights.

    python launch.py --mode=bench_generate --config.model.max_len=256
"""

from absl import flags

BATCH_SIZES = flags.DEFINE_list("bench_batch_sizes", ["1", "8"], "bench_generate: batch sizes to time")
PROMPT_LEN = flags.DEFINE_integer("bench_prompt_len", 8, "bench_generate: prompt tokens per row")
NEW_TOKENS = flags.DEFINE_integer("bench_new_tokens", 32, "bench_generate: tokens generated per row")


def run(config, workdir: str, experiment: str) -> None:
    sizes = [int(b) if b.strip().isdigit() else 0 for b in BATCH_SIZES.value]
    if not sizes or min(sizes) < 1:
        raise ValueError(f"--bench_batch_sizes={','.join(BATCH_SIZES.value)} must be whole numbers >= 1, e.g. 1,8.")
    for flag in (PROMPT_LEN, NEW_TOKENS):
        if flag.value < 1:
            raise ValueError(f"--{flag.name}={flag.value} must be >= 1.")
    bench_generate(config, sizes, PROMPT_LEN.value, NEW_TOKENS.value)


def bench_generate(config, batch_sizes: list[int], prompt_len: int, new_tokens: int, repeats: int = 3) -> dict:
    """The timings of lm/decoding/bench.py, printed and returned."""
    from lm.decoding import bench
    from lm.run import prepare

    run = prepare(config, None, restore="never")  # the data only gives the tokenizer's vocabulary
    return bench.bench_generate(run.model, run.state.params, batch_sizes, prompt_len, new_tokens, repeats)
