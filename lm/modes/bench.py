"""--mode=bench: the train step's time, FLOPs, MFU, compile time and memory; no workdir.

lm/bench.py measures them on the experiment's model with fresh weights.

    python launch.py --config=experiments/shakespeare_char.py:cpu --mode=bench
"""

from absl import flags

STEPS = flags.DEFINE_integer(
    "bench_steps", 20, "bench: timed steps (after 3 warm-up steps); 0 compiles only (memory, compile time)"
)


def run(config, workdir: str, experiment: str) -> None:
    if STEPS.value < 0:
        raise ValueError(f"--bench_steps={STEPS.value} must be >= 0 (0 compiles the step without running it).")
    from lm import bench

    bench.bench(config, steps=STEPS.value)
