"""nanoGPT's shakespeare_char CPU run side by side on one machine: nanoGPT's own train.py, its model and loop
restated in PyTorch (tools/nanogpt_torch.py), and ours, run in alternation, with the ratios.

    git clone https://github.com/karpathy/nanoGPT ~/nanoGPT        # not part of this repository
    python tools/compare_nanogpt.py --nanogpt=~/nanoGPT --data=tinyshakespeare.txt             # step times
    python tools/compare_nanogpt.py --nanogpt=~/nanoGPT --data=tinyshakespeare.txt --whole     # 2000-step runs

Step times: nanoGPT's train.py at its README's CPU settings (`--device=cpu --compile=False
--block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128 --dropout=0.0`, 110 iterations logged one
by one: the median of the last 100), tools/nanogpt_torch.py --bench (100 steps after 10) and `launch.py
--config=experiments/shakespeare_char.py:cpu --mode=bench --bench_steps=100` (100 steps after 3). With
--whole, each runs the whole 2000-step recipe instead (nanoGPT with --eval_iters=20, as its README says;
ours with its evals over the whole validation split, checkpoints and samples) and the wall time of the
command is compared. A round runs each command once; the order alternates between rounds, so that a slow
stretch of a shared machine does not fall on one side only. nanoGPT runs from a temporary copy of its
files (train.py, model.py, configurator.py, config/, data/shakespeare_char/prepare.py) with the given
text as its input.txt; nothing of it is kept. The last line is a JSON object with every figure.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NANOGPT_FILES = ("train.py", "model.py", "configurator.py", "config", "data/shakespeare_char/prepare.py")
NANOGPT_CPU = (  # nanoGPT's README: "I only have a macbook"
    "config/train_shakespeare_char.py --device=cpu --compile=False --dtype=float32 --log_interval=1 "
    "--block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128 --dropout=0.0 --lr_decay_iters=2000"
).split()


def prepare_nanogpt(source: str, data: str, directory: str) -> None:
    """nanoGPT's files in `directory`, its character data prepared from `data` (no download)."""
    for name in NANOGPT_FILES:
        path = os.path.join(source, name)
        if not os.path.exists(path):
            sys.exit(f"error: {path} not found: --nanogpt must be a checkout of github.com/karpathy/nanoGPT.")
        target = os.path.join(directory, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        (shutil.copytree if os.path.isdir(path) else shutil.copy)(path, target)
    shakespeare = os.path.join(directory, "data", "shakespeare_char")
    shutil.copy(data, os.path.join(shakespeare, "input.txt"))
    subprocess.run([sys.executable, "prepare.py"], cwd=shakespeare, check=True, capture_output=True)


def run(args: list[str], cwd: str) -> tuple[str, float]:
    """(stdout, wall seconds) of a command that must succeed."""
    start = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode:
        sys.exit(f"error: {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return result.stdout, seconds


def commands(nanogpt_dir: str, data: str, whole: bool, workdir: str) -> dict[str, tuple[list[str], str]]:
    """name -> (command, working directory)."""
    python = sys.executable
    if whole:
        nanogpt = [python, "train.py", *NANOGPT_CPU, "--max_iters=2000", "--eval_iters=20", "--log_interval=100"]
        torch_tool = [python, "tools/nanogpt_torch.py", f"--data={data}"]
        ours = ["--config.data.path=" + data, f"--workdir={workdir}"]
    else:
        nanogpt = [python, "train.py", *NANOGPT_CPU, "--max_iters=110", "--eval_interval=100000", "--eval_iters=1"]
        torch_tool = [python, "tools/nanogpt_torch.py", f"--data={data}", "--bench"]
        ours = ["--config.data.path=" + data, "--mode=bench", "--bench_steps=100"]
    launch = [python, "launch.py", "--config=experiments/shakespeare_char.py:cpu", *ours]
    return {
        "nanoGPT train.py": (nanogpt, nanogpt_dir),
        "tools/nanogpt_torch.py": (torch_tool, ROOT),
        "ours": (launch, ROOT),
    }


def step_ms(name: str, stdout: str) -> float:
    """The median step time a command reports."""
    if name == "nanoGPT train.py":
        times = [float(ms) for _, ms in re.findall(r"^iter (\d+): .*time ([\d.]+)ms", stdout, re.M)]
        return statistics.median(times[10:])  # iteration 0 includes nanoGPT's first loss estimate
    if name == "ours":
        return json.loads(stdout.strip().splitlines()[-1])["step_ms_median"]
    return float(re.search(r"step ([\d.]+) ms median", stdout).group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nanogpt", required=True, help="a checkout of github.com/karpathy/nanoGPT")
    parser.add_argument("--data", required=True, help="the tiny Shakespeare text (nanoGPT's input.txt)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--whole", action="store_true", help="time the whole 2000-step runs, not steps")
    args = parser.parse_args()
    data = os.path.abspath(os.path.expanduser(args.data))
    figure = "wall time of the command, s" if args.whole else "median step time, ms"
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        nanogpt_dir = os.path.join(scratch, "nanoGPT")
        prepare_nanogpt(os.path.expanduser(args.nanogpt), data, nanogpt_dir)
        for r in range(args.rounds):
            runs = commands(nanogpt_dir, data, args.whole, os.path.join(scratch, f"workdir_{r}"))
            order = list(runs) if r % 2 == 0 else list(runs)[::-1]
            for name in order:
                command, cwd = runs[name]
                stdout, seconds = run(command, cwd)
                value = seconds if args.whole else step_ms(name, stdout)
                results.setdefault(name, []).append(value)
                print(f"round {r + 1}: {name}: {value:.2f} ({figure})", flush=True)
    print(f"\n{figure}, {args.rounds} rounds, {os.cpu_count()} CPU cores:")
    for name, values in results.items():
        print(f"  {name:24} {' '.join(f'{v:8.2f}' for v in values)} | median {statistics.median(values):.2f}")
    ratios = {
        name: [theirs / ours for theirs, ours in zip(values, results["ours"], strict=True)]
        for name, values in results.items()
        if name != "ours"
    }
    for name, values in ratios.items():
        print(f"  {name} / ours, per round: {', '.join(f'{v:.2f}' for v in values)} (> 1: ours is faster)")
    print(json.dumps({"figure": figure, "results": results, "ratios_to_ours": ratios}))


if __name__ == "__main__":
    main()
