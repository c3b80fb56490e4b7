"""Generation speed with and without the KV cache, for a model of a named size with random weights.

    python -m lm.bench_generate                       # GPT-2 small shape, batch 1 and 8
    python -m lm.bench_generate --size=mini --vocab_size=65 --max_len=256 --new_tokens=128

Prints one line per (batch, cache) with the compile time and the median wall time of the whole
generation (prefill + new tokens), as new tokens per second, then a JSON line with every figure. The
uncached path runs a full forward pass over the whole buffer (prompt + new tokens) for every new
token, so its cost per token grows with the sequence; the cached path runs one token over the cache.
"""

import json
import statistics
import time

import jax
import numpy as np
from absl import app, flags

from lm import sampling
from lm.config import SIZES
from lm.model import ModelConfig, TransformerLM, count_params, init_params

_SIZE = flags.DEFINE_enum("size", "small", list(SIZES), "model shape (lm/config.py SIZES)")
_VOCAB = flags.DEFINE_integer("vocab_size", 50257, "vocabulary (GPT-2: 50257)")
_MAX_LEN = flags.DEFINE_integer("max_len", 1024, "position table size (GPT-2: 1024)")
_BATCH = flags.DEFINE_list("batch_sizes", ["1", "8"], "batch sizes to measure")
_PROMPT = flags.DEFINE_integer("prompt_len", 8, "prompt tokens per row")
_NEW = flags.DEFINE_integer("new_tokens", 32, "tokens generated per row")
_REPEATS = flags.DEFINE_integer("repeats", 3, "timed runs after the compiling one; the median is reported")
_DTYPE = flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "compute dtype")


def measure(model, params, batch_size: int, prompt_len: int, new_tokens: int, cache: bool, repeats: int) -> dict:
    """Compile time and median seconds of one `generate` call (greedy, no early stop)."""
    fn = sampling.compile_generate(model, new_tokens, cache=cache)
    prompt = np.random.default_rng(0).integers(0, model.config.vocab_size, (batch_size, prompt_len), np.int32)
    valid = np.ones_like(prompt, bool)
    rng, options = jax.random.PRNGKey(0), sampling.Options(temperature=0.0)
    start = time.perf_counter()
    jax.block_until_ready(fn(params, prompt, valid, rng, options))
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(params, prompt, valid, rng, options))
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {
        "batch_size": batch_size,
        "cache": cache,
        "compile_s": round(first - seconds, 3),
        "seconds": round(seconds, 4),
        "tokens_per_s": round(batch_size * new_tokens / seconds, 1),
        "ms_per_token_step": round(1000 * seconds / new_tokens, 2),
    }


def main(argv):
    del argv
    L, N, D, F = SIZES[_SIZE.value]
    config = ModelConfig(_VOCAB.value, L, N, D, F, max_len=_MAX_LEN.value, dtype=_DTYPE.value)
    model = TransformerLM(config)
    params = jax.jit(init_params, static_argnums=0)(model, jax.random.PRNGKey(0))
    device = jax.devices()[0]
    print(
        f"{_SIZE.value}: {count_params(params):,} parameters, {_DTYPE.value} | {jax.device_count()} x "
        f"{device.device_kind} ({device.platform}) | prompt {_PROMPT.value} + {_NEW.value} new tokens, greedy",
        flush=True,
    )
    results = []
    for batch_size in map(int, _BATCH.value):
        for cache in (True, False):
            r = measure(model, params, batch_size, _PROMPT.value, _NEW.value, cache, _REPEATS.value)
            results.append(r)
            print(
                f"batch {batch_size:>3} | {'KV cache' if cache else 'no cache':>8} | "
                f"{r['tokens_per_s']:>9.1f} new tokens/s | {r['ms_per_token_step']:>8.2f} ms per step | "
                f"{r['seconds']:.3f} s per call | compile {r['compile_s']:.1f} s",
                flush=True,
            )
    for batch_size in map(int, _BATCH.value):
        cached, uncached = (r["tokens_per_s"] for r in results if r["batch_size"] == batch_size)
        print(f"batch {batch_size}: the KV cache is {cached / uncached:.1f}x faster")
    summary = dict(size=_SIZE.value, params=count_params(params), platform=device.platform, results=results)
    print(json.dumps(dict(summary, device=device.device_kind, prompt_len=_PROMPT.value, new_tokens=_NEW.value)))


if __name__ == "__main__":
    app.run(main)
