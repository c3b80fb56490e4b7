"""--mode=bench: how fast an experiment trains on this machine, and how close to the hardware's peak.

    python launch.py --config=experiments/shakespeare_char.py:cpu --mode=bench

Builds the run exactly as --mode=train does, from the config alone (nothing is read from or written to
the workdir, so the figures never depend on what a workdir holds), compiles the train
step ahead of time, runs warm-up steps, then times steps one by one (each waits for its result) and
reports the median. FLOPs are counted from the architecture (lm/models/flops.py: every matrix product of the
family, 6N + 12 L D T per token for GPT), with XLA's cost analysis of the compiled step beside them (it
adds elementwise work and the optimizer, and counts the body of a scan once: scanned layers,
gradient accumulation's micro-batches). MFU divides the achieved
FLOP/s by the peak matmul rate measured here in the same command (and, on GPU / TPU, by the vendor's
dense bfloat16 peak). The input pipeline (batch making + host-to-device copy) is timed on
its own: it must stay well below the step time. The last line is a JSON object with every figure.
"""

import json
import resource
import statistics
import time

import jax
import jax.numpy as jnp
import ml_collections
import psutil

from lm import console
from lm.models import families, flops
from lm.models.config import ModelConfig
from lm.models.layout import count_params
from lm.run import compile_train_step, describe, prepare

# Dense bfloat16 peaks from the vendors' data sheets (FLOP/s), by jax's device_kind.
VENDOR_PEAK = {
    "NVIDIA H100": 989e12,
    "NVIDIA H200": 989e12,
    "NVIDIA A100": 312e12,
    "NVIDIA L4": 121e12,
    "TPU v4": 275e12,
    "TPU v5 lite": 197e12,
    "TPU v5": 459e12,
    "TPU v6 lite": 918e12,
}


def vendor_peak(device_kind: str) -> float | None:
    matches = [k for k in VENDOR_PEAK if device_kind.startswith(k)]
    return VENDOR_PEAK[max(matches, key=len)] if matches else None


def step_flops(run, batch: dict) -> flops.Flops:
    """The model FLOPs of one training step on `batch` (lm/models/flops.py), from the shapes the objective feeds it."""
    inputs, _, _ = jax.eval_shape(run.objective.prepare, batch, jax.random.PRNGKey(0))
    rows, target_len = inputs["tokens"].shape
    source_len = inputs["source"].shape[1] if "source" in inputs else 0
    model = ModelConfig.from_config(run.config.model)
    return families.get(model.family).training_flops(model, run.objective.method, target_len, source_len) * rows


def peak_matmul_flops(dtype: str, size: int | None = None, repeats: int = 5) -> float:
    """The best FLOP/s of a square matmul on the default device (2048 on CPU, 8192 on accelerators)."""
    size = size or (2048 if jax.devices()[0].platform == "cpu" else 8192)
    a = jax.random.normal(jax.random.PRNGKey(0), (size, size), jnp.dtype(dtype))
    b = jax.random.normal(jax.random.PRNGKey(1), (size, size), jnp.dtype(dtype))
    matmul = jax.jit(lambda a, b: a @ b)
    matmul(a, b).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, b).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def bench(config: ml_collections.ConfigDict, steps: int = 20, warmup: int = 3) -> dict:
    """Times the experiment's train step; prints a report and returns its figures."""
    process_start = psutil.Process().create_time()
    start = time.perf_counter()
    run = prepare(config, None, restore="never", abstract=not steps)  # steps=0: shapes only, nothing allocated
    prepare_s = time.perf_counter() - start
    console.log(describe(run))
    c = run.config
    train_fn = compile_train_step(run)
    runner = run.runner
    state = runner.put_state(run.state) if steps else runner.abstract_state(run.state)

    def batch(s):
        return run.runner.put_batch(run.data.train_batch(s, c.seed, c.data.batch_size, c.data.seq_len))

    start = time.perf_counter()
    compiled = train_fn.lower(state, batch(0)).compile()
    compile_s = time.perf_counter() - start
    memory = compiled.memory_analysis()
    cost = compiled.cost_analysis()
    cost = (cost[0] if isinstance(cost, (list, tuple)) else cost) or {}
    n = count_params(run.state.params)
    tokens = c.data.batch_size * c.data.seq_len
    model_flops = step_flops(run, run.data.train_batch(0, c.seed, c.data.batch_size, c.data.seq_len))
    xla_flops = cost["flops"] * run.runner.num_devices if "flops" in cost else None
    device = jax.devices()[0]
    result = {
        "model_size": c.model.size,
        "vocab_size": c.model.vocab_size,
        "params": n,
        "devices": run.runner.num_devices,
        "device_kind": device.device_kind,
        "platform": device.platform,
        "dtype": c.model.dtype,
        "remat": c.model.remat,
        "scan_layers": c.model.scan_layers,
        "batch_size": c.data.batch_size,
        "seq_len": c.data.seq_len,
        "flops_per_token": model_flops.total / tokens,  # the model's, counted from the architecture
        "attention_flops_per_token": model_flops.attention / tokens,
        "step_gflops": model_flops.total / 1e9,
        "xla_step_gflops": xla_flops / 1e9 if xla_flops is not None else None,  # XLA's cost analysis, all devices
        "compile_s": compile_s,
        "prepare_s": prepare_s,
        "parallel": runner.describe(),
        # per device, from the placement of the state and the compiled program (the preflight)
        "params_mb_per_device": runner.bytes_per_device(run.state.params) / 2**20,
        "optimizer_mb_per_device": runner.bytes_per_device(run.state.opt_state) / 2**20,
        "temp_mb_per_device": memory.temp_size_in_bytes / 2**20 if memory else None,  # activations, gradients
        "step_memory_mb": _step_memory(memory) / 2**20 if memory else None,
        "step_gflops_per_device": cost["flops"] / 1e9 if "flops" in cost else None,
        "timed_steps": steps,
    }
    if steps:
        result.update(_time_steps(compiled, state, batch, steps, warmup, process_start))
        achieved = model_flops.total / (result["step_ms_median"] / 1000)
        peak = peak_matmul_flops(c.model.dtype)
        vendor = vendor_peak(device.device_kind) if device.platform != "cpu" else None
        result.update(
            tokens_per_s=tokens / (result["step_ms_median"] / 1000),
            achieved_tflops=achieved / 1e12,
            peak_matmul_tflops_measured=peak / 1e12,
            mfu_measured_peak=achieved / peak,
            vendor_peak_tflops=vendor / 1e12 if vendor else None,
            mfu_vendor_peak=achieved / vendor if vendor else None,
        )
    device_stats = device.memory_stats() or {}
    result.update(
        peak_host_memory_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        peak_device_memory_mb=device_stats["peak_bytes_in_use"] / 2**20
        if "peak_bytes_in_use" in device_stats
        else None,
    )
    _print(result)
    console.log(json.dumps({k: (round(v, 6) if isinstance(v, float) else v) for k, v in result.items()}))
    return result


def _time_steps(compiled, state, batch, steps: int, warmup: int, process_start: float) -> dict:
    """Start-up, the input pipeline's time per batch and the step times (ms)."""
    state, metrics = compiled(state, batch(0))
    jax.block_until_ready(metrics)
    startup_s = time.time() - process_start  # the command to the end of the first step
    pipeline = []
    for s in range(1, warmup + steps + 1):
        t = time.perf_counter()
        jax.block_until_ready(batch(s))
        pipeline.append(time.perf_counter() - t)
    batches = [batch(s) for s in range(1, warmup + steps + 1)]  # made before: the step times exclude them
    times = []
    for i, b in enumerate(batches):
        t = time.perf_counter()
        state, metrics = compiled(state, b)
        jax.block_until_ready(metrics)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    step_s = statistics.median(times)
    return {
        "step_ms_median": 1000 * step_s,
        "step_ms_min": 1000 * min(times),
        "step_ms_max": 1000 * max(times),
        "startup_s": startup_s,
        "input_ms_per_batch": 1000 * statistics.median(pipeline),
        "input_fraction_of_step": statistics.median(pipeline) / step_s,
    }


def _step_memory(memory) -> float:
    """Bytes the compiled step needs on the device: arguments + outputs + temporaries - donated aliases."""
    return (
        memory.argument_size_in_bytes
        + memory.output_size_in_bytes
        + memory.temp_size_in_bytes
        - memory.alias_size_in_bytes
    )


def _xla_differs(r: dict) -> str:
    """Why XLA's count is not the model's, when it is far from it."""
    ratio = r["xla_step_gflops"] / r["step_gflops"]
    if ratio < 0.9:
        return ": it counts the body of a scan once, whether scanned layers or micro-batches"
    if ratio > 1.1:
        return ": with elementwise work, the optimizer and any recomputation"
    return ""


def _print(r: dict) -> None:
    memory = f"peak host memory {r['peak_host_memory_mb']:.0f} MB"
    if r["step_memory_mb"] is not None:
        memory += f" | the compiled step needs {r['step_memory_mb']:.1f} MB on the device"
    if r["peak_device_memory_mb"] is not None:
        memory += f" | peak device memory {r['peak_device_memory_mb']:.0f} MB"
    flops = f"{r['step_gflops']:.4g} GFLOP a step from the architecture"
    if r["xla_step_gflops"] is not None:
        flops += f" (XLA's cost analysis: {r['xla_step_gflops']:.4g}{_xla_differs(r)})"
    if not r["timed_steps"]:
        console.log(
            f"compiled in {r['compile_s']:.1f} s (--bench_steps=0: nothing allocated, not run) | {r['parallel']}, per "
            f"device: parameters {r['params_mb_per_device']:.1f} MB, optimizer state "
            f"{r['optimizer_mb_per_device']:.1f} MB, activations and temporaries {r['temp_mb_per_device']:.1f} MB"
            f" | {flops} | {memory}"
        )
        return
    mfu = (
        f"MFU {100 * r['mfu_measured_peak']:.1f}% of the measured peak ({r['peak_matmul_tflops_measured']:.3g} TFLOP/s)"
    )
    if r["mfu_vendor_peak"] is not None:
        mfu += f", {100 * r['mfu_vendor_peak']:.1f}% of the vendor's ({r['vendor_peak_tflops']:.0f} TFLOP/s)"
    console.log(
        f"step {r['step_ms_median']:.2f} ms median (min {r['step_ms_min']:.2f}, max {r['step_ms_max']:.2f}, "
        f"{r['timed_steps']} steps) | {r['tokens_per_s']:,.0f} tokens/s\n"
        f"{r['flops_per_token'] / 1e6:.2f} MFLOPs per token (attention {r['attention_flops_per_token'] / 1e6:.2f}): "
        f"{flops} | {r['achieved_tflops'] * 1e3:.2f} GFLOP/s | {mfu}\n"
        f"start-up {r['startup_s']:.1f} s from the command to the first step done (prepare {r['prepare_s']:.1f} s, "
        f"compile {r['compile_s']:.1f} s) | input pipeline {r['input_ms_per_batch']:.3f} ms per batch "
        f"({100 * r['input_fraction_of_step']:.1f}% of a step)\n{memory}",
    )
