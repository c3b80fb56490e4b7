"""How step time and memory grow with context length and model size, and what fits in a memory budget.

    python tools/bench_scaling.py --table=context     # mini, 8192 tokens per step, context 256 .. 8192
    python tools/bench_scaling.py --table=size        # tiny .. GPT-2 medium, GPT-2's vocabulary, 1 x 1024 tokens
    python tools/bench_scaling.py --table=memory --budget_gb=8   # the largest batch / context / model that fits
    python tools/bench_scaling.py --table=parallel    # GPT-2 small / medium / large on 8 devices, each mode

Every point is one `launch.py --mode=bench` of experiments/default.py (its built-in corpus; nothing is
written) in its own process, and its JSON line is read back, so one point's memory never bears on the
next and a point that fails (too large) is reported as such; each compiles with a cold cache. Memory
is the compiled train step's need (arguments + outputs + temporaries, from XLA's memory analysis: what
the device must hold), found by compiling without running (--bench_steps=0), so the memory search
never allocates what it measures.
Each table prints as Markdown, with the command and the device; `--plot=FILE.png` also draws the context and
size tables (docs/figures/, shown in docs/performance.md).

    python tools/bench_scaling.py --table=context --plot=docs/figures/scaling_context.png
"""

import json
import os
import subprocess
import sys
import tempfile

import jax
from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TABLE = flags.DEFINE_enum("table", "context", ["context", "size", "memory", "parallel"], "which table")
_STEPS = flags.DEFINE_integer("steps", 3, "timed steps per point (after 3 warm-up steps)")
_BUDGET = flags.DEFINE_float("budget_gb", 8.0, "memory table: the device memory budget, GiB")
_PLOT = flags.DEFINE_string("plot", "", "context and size tables: also draw them into this PNG file")

MEMORY_MODES = {"none": [], "scan + full": ["--config.model.scan_layers=True", "--config.model.remat=full"]}


def point(steps: int, devices: int = 1, **overrides) -> dict | None:
    """One bench of the default experiment with `overrides` (config keys); None if it failed."""
    args = [sys.executable, os.path.join(ROOT, "launch.py"), f"--config={ROOT}/experiments/default.py"]
    # The tables fix each point's batch: one micro-batch, whatever the experiment sets; one device unless
    # `devices` (faked on CPU) are asked for.
    args += ["--mode=bench", f"--bench_steps={steps}", f"--config.train.data_parallel={devices > 1}"]
    args += ["--config.optim.grad_accum_steps=1"]
    args += [f"--config.{k}={v}" for k, v in overrides.items() if not k.startswith("-")]
    args += [v for k, v in overrides.items() if k.startswith("-")]  # raw flags (MEMORY_MODES)
    with tempfile.TemporaryDirectory() as cache:  # a cold compilation cache: compile times are real
        env = {**os.environ, "LM_COMPILATION_CACHE": cache}
        if devices > 1:
            env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
        result = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env)
    if result.returncode:
        print(f"  failed: {' '.join(args[2:])}\n  {result.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def shape(size: str, batch: int, context: int, vocab: int | None = None, mode: str = "none") -> dict:
    fields = {"model.size": size, "data.batch_size": batch, "data.seq_len": context, "model.max_len": context}
    if vocab:
        fields["model.vocab_size"] = vocab
    fields.update({f"-{i}": flag for i, flag in enumerate(MEMORY_MODES[mode])})
    return fields


def gb(r: dict | None, key: str = "step_memory_mb") -> str:
    return f"{r[key] / 1024:.2f}" if r else "fails"


def context_table(steps: int, points: list | None = None) -> list[str]:
    """The table's rows; `points` (if given) gets each context's (context, timed result, scan + full result)."""
    rows = [
        "| context | batch | step (ms) | tokens/s | MFU | step memory, GiB | with scan + remat=full |",
        "|---|---|---|---|---|---|---|",
    ]
    for context in (256, 512, 1024, 2048, 4096, 8192):
        batch = 8192 // context
        timed = point(steps, **shape("mini", batch, context))
        low = point(0, **shape("mini", batch, context, mode="scan + full"))
        if points is not None:
            points.append((context, timed, low))
        rows.append(
            f"| {context} | {batch} | {timed['step_ms_median']:.0f} | {timed['tokens_per_s']:,.0f} | "
            f"{100 * timed['mfu_measured_peak']:.1f}% | {gb(timed)} | {gb(low)} |"
            if timed
            else f"| {context} | {batch} | fails | | | | {gb(low)} |"
        )
        print(rows[-1], flush=True)
    return rows


def size_table(steps: int, points: list | None = None) -> list[str]:
    """The table's rows; `points` (if given) gets each size's (size, timed result, scanned result)."""
    rows = [
        "| size | parameters | step (ms) | tokens/s | MFU | step memory, GiB | compile (s) | compile, scanned (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size in ("tiny", "mini", "small", "medium"):
        timed = point(steps, **shape(size, 1, 1024, vocab=50257))
        scanned = point(0, **shape(size, 1, 1024, vocab=50257), **{"model.scan_layers": True})
        if points is not None:
            points.append((size, timed, scanned))
        rows.append(
            f"| {size} | {timed['params']:,} | {timed['step_ms_median']:.0f} | {timed['tokens_per_s']:,.0f} | "
            f"{100 * timed['mfu_measured_peak']:.1f}% | {gb(timed)} | {timed['compile_s']:.1f} | "
            f"{scanned['compile_s']:.1f} |"
        )
        print(rows[-1], flush=True)
    return rows


def largest(fits, candidates: list) -> tuple:
    """The last candidate (in increasing order) whose point fits, and its result."""
    best = (None, None)
    for candidate in candidates:
        result = fits(candidate)
        if result is None:
            break
        best = (candidate, result)
    return best


def memory_table(budget_gb: float) -> list[str]:
    budget_mb = budget_gb * 1024

    def within(**fields):
        r = point(0, **fields)
        return r if r and r["step_memory_mb"] <= budget_mb else None

    rows = [
        f"| largest within {budget_gb:g} GiB | remat | fits | step memory, GiB |",
        "|---|---|---|---|",
    ]
    searches = [  # (what, candidates in increasing order, their config)
        ("batch, GPT-2 small, context 1024", [2**i for i in range(9)], lambda b, m: shape("small", b, 1024, 50257, m)),
        ("context, GPT-2 small, batch 1", [2**i for i in range(8, 15)], lambda t, m: shape("small", 1, t, 50257, m)),
        ("model, batch 8 x 1024", ["mini", "small", "medium", "large", "xl"], lambda s, m: shape(s, 8, 1024, 50257, m)),
    ]
    for mode in MEMORY_MODES:
        for what, candidates, fields in searches:
            value, result = largest(lambda c, fields=fields, mode=mode: within(**fields(c, mode)), candidates)
            if isinstance(value, str) and result:
                value = f"{value} ({result['params'] / 1e6:.0f}M)"
            rows.append(f"| {what} | {mode} | {value or 'nothing'} | {gb(result)} |")
            print(rows[-1], flush=True)
    return rows


# (name, config overrides) of the parallel table: pmap, and meshes data x fsdp x tensor of 8 devices
PARALLEL_MODES = [
    ("pmap", {}),
    ("mesh data 8", {"parallel.mode": "mesh"}),
    ("mesh fsdp 8", {"parallel.mode": "mesh", "parallel.fsdp": 8}),
    ("mesh data 2 x tensor 4", {"parallel.mode": "mesh", "parallel.tensor": 4}),
    ("mesh fsdp 2 x tensor 4", {"parallel.mode": "mesh", "parallel.fsdp": 2, "parallel.tensor": 4}),
]


def parallel_table() -> list[str]:
    """Per-device memory of GPT-2 shapes on 8 devices, batch 8 x 1024, and the step's FLOPs on all of them (the
    model's, from lm/models/flops.py, and XLA's cost analysis, which counts the scanned layer once), from
    compilation."""
    # What XLA's analysis says of the compiled program per device (not what an allocator would peak at).
    rows = [
        "| model | mode | parameters, MiB | optimizer state, MiB | activations + temporaries, MiB | "
        "step memory, GiB | GFLOP a step | XLA's count, GFLOP | compile (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for size in ("small", "medium", "large"):
        for name, mode in PARALLEL_MODES:
            # GPT-2's vocabulary padded to 50304 (as nanoGPT does): 50257 is odd, so tensor parallelism could not
            # split the output projection, and every device would compute all the logits of its rows
            fields = {**shape(size, 8, 1024, vocab=50304), "model.scan_layers": True, "train.eval_batch_size": 8}
            r = point(0, devices=8, **fields, **mode)
            rows.append(
                f"| {size} | {name} | {r['params_mb_per_device']:,.0f} | {r['optimizer_mb_per_device']:,.0f} | "
                f"{r['temp_mb_per_device']:,.0f} | {gb(r)} | {r['step_gflops']:,.0f} | {r['xla_step_gflops']:,.0f} | "
                f"{r['compile_s']:.0f} |"
                if r
                else f"| {size} | {name} | fails | | | | | | |"
            )
            print(rows[-1], flush=True)
    return rows


def plot_context(points: list, path: str, title: str):
    """Step time and step memory against context length (8192 tokens a step), from context_table's points;
    returns the figure, saved into `path`."""
    fig, (time_ax, memory_ax) = _figure(title)
    timed = [(context, r) for context, r, _ in points if r]
    time_ax.plot([c for c, _ in timed], [r["step_ms_median"] for _, r in timed], "o-")
    time_ax.set(ylabel="step time, ms (8192 tokens)", yscale="log")
    for k, label in ((1, "plain step"), (2, "scan_layers + remat=full")):
        shown = [(p[0], p[k]["step_memory_mb"] / 1024) for p in points if p[k]]
        memory_ax.plot([c for c, _ in shown], [m for _, m in shown], "o-", label=label)
    memory_ax.set(ylabel="step memory, GiB")
    memory_ax.legend()
    contexts = [p[0] for p in points]
    for ax in (time_ax, memory_ax):
        ax.set_xscale("log", base=2)
        ax.set_xticks(contexts, [str(c) for c in contexts])
        ax.minorticks_off()
        ax.set(xlabel="context, tokens")
        ax.grid(alpha=0.3)
    fig.savefig(path, dpi=100)
    return fig


def plot_size(points: list, path: str, title: str):
    """Tokens/s, MFU and compile times against parameters (GPT-2's vocabulary, 1 x 1024 tokens a step), from
    size_table's points; returns the figure, saved into `path`."""
    fig, (speed_ax, compile_ax) = _figure(title)
    shown = [(size, timed, scanned) for size, timed, scanned in points if timed]
    params = [timed["params"] / 1e6 for _, timed, _ in shown]
    speed_ax.plot(params, [timed["tokens_per_s"] for _, timed, _ in shown], "o-")
    speed_ax.set(ylabel="tokens/s (solid)", yscale="log")
    for x, (size, timed, _) in zip(params, shown, strict=True):
        speed_ax.annotate(size, (x, timed["tokens_per_s"]), textcoords="offset points", xytext=(4, 4))
    mfu_ax = speed_ax.twinx()
    mfu_ax.plot(params, [100 * timed["mfu_measured_peak"] for _, timed, _ in shown], "s--", color="C1")
    mfu_ax.set(ylabel="MFU, % of the measured matmul peak (dashed)", ylim=(0, 100))
    compile_ax.plot(params, [timed["compile_s"] for _, timed, _ in shown], "o-", label="layers unrolled")
    scanned = [(x, r["compile_s"]) for x, (_, _, r) in zip(params, shown, strict=True) if r]
    compile_ax.plot([x for x, _ in scanned], [t for _, t in scanned], "o-", label="scan_layers")
    compile_ax.set(ylabel="compile time, s (cold cache)")
    compile_ax.legend()
    for ax in (speed_ax, compile_ax):
        ax.set(xlabel="parameters, millions", xscale="log")
        ax.grid(alpha=0.3)
    fig.savefig(path, dpi=100)
    return fig


def _figure(title: str):
    import matplotlib

    matplotlib.use("Agg")  # headless: a file only
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    fig.suptitle(title, fontsize=10)
    return fig, axes


def main(argv):
    del argv
    device = jax.devices()[0]
    table = _TABLE.value
    if _PLOT.value and table not in ("context", "size"):
        raise app.UsageError(f"--plot draws the context and size tables; --table={table} stays a table.")
    points = []
    if table == "context":
        rows = context_table(_STEPS.value, points)
    elif table == "size":
        rows = size_table(_STEPS.value, points)
    elif table == "parallel":
        rows = parallel_table()
    else:
        rows = memory_table(_BUDGET.value)
    cores = os.cpu_count() if device.platform == "cpu" else ""
    where = f"{device.device_kind} ({device.platform}{f', {cores} cores' if cores else ''}), float32"
    print(f"\n{where}:")
    print(f"    python tools/bench_scaling.py {' '.join(sys.argv[1:])}\n")
    print("\n".join(rows))
    if _PLOT.value:
        (plot_context if table == "context" else plot_size)(points, _PLOT.value, f"{where}: --table={table}")
        print(f"\ndrawn into {_PLOT.value}")


if __name__ == "__main__":
    app.run(main)
