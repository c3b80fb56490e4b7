"""--mode=bench_generate: generation speed with and without the KV cache, for any experiment's model.

    python launch.py --mode=bench_generate --config.model.size=small --config.model.vocab_size=50257 \\
        --config.model.max_len=1024                # GPT-2 small's shape, batch 1 and 8

The model is the experiment's, with fresh random weights (speed does not depend on them; nothing is read
from or written to the workdir). Prints one line per (batch, cache) with the compile time and the median
wall time of the whole generation (prefill + new tokens), as new tokens per second, then a JSON line with
every figure. The uncached path runs a full forward pass over the whole buffer (prompt + new tokens) for
every new token, so its cost per token grows with the sequence; the cached path runs one token over the cache.
"""

import json
import statistics
import time

import jax
import numpy as np

from lm import console
from lm.decoding import generate, text
from lm.decoding.sampling import Options
from lm.models import families
from lm.models.layout import count_params


def measure(model, params, batch_size: int, prompt_len: int, new_tokens: int, cache: bool, repeats: int) -> dict:
    """Compile time and median seconds of one `generate` call (greedy, no early stop)."""
    fn = generate.compile_generate(model, new_tokens, cache=cache)
    prompt = np.random.default_rng(0).integers(0, model.config.vocab_size, (batch_size, prompt_len), np.int32)
    valid = np.ones_like(prompt, bool)
    rng, options = jax.random.PRNGKey(0), Options(temperature=0.0)
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


def bench_generate(
    model: families.Model, params, batch_sizes: list[int], prompt_len: int, new_tokens: int, repeats: int = 3
) -> dict:
    """Times generation with and without the cache at each batch size; prints a report and returns it.

    Raises:
      ValueError: prompt_len + new_tokens longer than the model's context.
    """
    c = model.config
    text.check_causal(model, "--mode=bench_generate times generation, which runs")
    if families.of(model).sourced:
        raise ValueError(
            f"--mode=bench_generate times decoder-only models; model.family={c.family} reads a source (an "
            "encoder-decoder), which it does not time. Time a decoder-only model, or its eval (--mode=eval)."
        )
    if prompt_len + new_tokens > c.max_len:
        raise ValueError(
            f"--bench_prompt_len={prompt_len} plus --bench_new_tokens={new_tokens} is longer than the model's "
            f"context of {c.max_len} tokens. Lower them, or raise --config.model.max_len."
        )
    device = jax.devices()[0]
    console.log(
        f"{c.size}: {count_params(params):,} parameters, {c.dtype} | {jax.device_count()} x {device.device_kind} "
        f"({device.platform}) | prompt {prompt_len} + {new_tokens} new tokens, greedy"
    )
    results = []
    for batch_size in batch_sizes:
        for cache in (True, False):
            r = measure(model, params, batch_size, prompt_len, new_tokens, cache, repeats)
            results.append(r)
            console.log(
                f"batch {batch_size:>3} | {'KV cache' if cache else 'no cache':>8} | "
                f"{r['tokens_per_s']:>9.1f} new tokens/s | {r['ms_per_token_step']:>8.2f} ms per step | "
                f"{r['seconds']:.3f} s per call | compile {r['compile_s']:.1f} s"
            )
    for batch_size in batch_sizes:
        cached, uncached = (r["tokens_per_s"] for r in results if r["batch_size"] == batch_size)
        console.log(f"batch {batch_size}: the KV cache is {cached / uncached:.1f}x faster")
    summary = dict(
        size=c.size,
        params=count_params(params),
        platform=device.platform,
        device=device.device_kind,
        prompt_len=prompt_len,
        new_tokens=new_tokens,
        results=results,
    )
    console.log(json.dumps(summary))
    return summary
