"""The training loader on token shards: time per batch and memory, ours against nanoGPT's and Grain's ways.

    python tools/bench_shards.py --sizes_mb=1000 --dir=/tmp/bench_shards      # makes shards of 1 GB, if needed
    python tools/bench_loader.py --shards=/tmp/bench_shards/shards_1000mb --batch_size=480 --seq_len=1024

Every loader reads the same batches: the windows lm/data/shards.py draws for step s from (seed, s). Each runs
in a process of its own (its peak memory is its own), flat out: the first batch (start-up), then --batches:
- ours: `ShardsDataset.train_batch`, one pread per window (lm/data/shards.py);
- memmap: nanoGPT's get_batch: fresh np.memmaps for each batch (of the shard each window lies in), a slice
  per window;
- grain: Grain's MapDataset over the same windows (a random-access source whose record is a window, its
  `batch`), read in this process;
- grain_workers: the same through `mp_prefetch` with --workers processes reading ahead (Grain's way of
  overlapping loading with the step; ours is a background thread, lm/parallel.py).
It prints milliseconds per batch (the mean after the first), the first batch's wait and the process's peak
resident memory (Grain's worker processes not counted); the last line is a JSON object with every figure.
--cache=warm (default) reads the shards once before each loader, so that each finds them in memory (its own
cost); --cache=cold drops the page cache first (each pays the disk as well). Grain is not a requirement of
this project: `pip install grain` to measure it.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

LOADERS = ("ours", "memmap", "grain", "grain_workers")


def batches(args):
    """An iterator of [batch, seq_len + 1] windows from the chosen loader."""
    from lm.config import default_config
    from lm.data import shards

    data = default_config().data
    data.shards, data.seq_len = args.shards, args.seq_len
    dataset = shards.load(data)
    b, t, n = args.batch_size, args.seq_len, args.batches + 1

    def starts(step):
        return np.random.default_rng([0, step]).integers(0, len(dataset.train) - t, size=b)

    if args.only == "ours":
        return (np.asarray(dataset.train_batch(s, 0, b, t)["inputs"]) for s in range(n))
    if args.only == "memmap":
        files, ends = dataset.train.files, dataset.train.ends

        def window(start):
            i = int(np.searchsorted(ends, start, side="right"))
            offset = start - (int(ends[i - 1]) if i else 0)
            piece = np.memmap(files[i], dtype=dataset.train.dtype, mode="r")[offset : offset + t + 1]
            if len(piece) < t + 1:  # the window runs on into the next shard
                rest = np.memmap(files[i + 1], dtype=dataset.train.dtype, mode="r")[: t + 1 - len(piece)]
                piece = np.concatenate([piece, rest])
            return piece.astype(np.int64)

        def get_batch(step):  # nanoGPT: new maps for each batch, a slice per window
            return np.stack([window(int(i)) for i in starts(step)])

        return (get_batch(s) for s in range(n))
    import grain
    from absl import flags

    flags.FLAGS.mark_as_parsed()  # Grain's worker processes read absl flags of their own

    class Windows(grain.sources.RandomAccessDataSource):
        def __len__(self):
            return n * b

        def __getitem__(self, index):
            step, row = divmod(index, b)
            return dataset.train.read(int(starts(step)[row]), t + 1)

    windows = grain.MapDataset.source(Windows()).batch(b)
    if args.only == "grain":
        return (windows[s] for s in range(n))
    return iter(windows.to_iter_dataset().mp_prefetch(grain.MultiprocessingOptions(num_workers=args.workers)))


def measure(args) -> dict:
    """Flat out: the first batch (start-up included), then the mean time of the next --batches. A loader that
    reads ahead in other processes is measured at the rate they produce batches, as nothing else runs here."""
    start = time.perf_counter()
    it = batches(args)
    next(it)
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(args.batches):
        batch = next(it)
    seconds = time.perf_counter() - start
    assert batch.shape[0] == args.batch_size and batch.shape[1] in (args.seq_len, args.seq_len + 1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"ms": 1000 * seconds / args.batches, "first_batch_s": first, "peak_mb": peak}


def page_cache(directory: str, state: str) -> None:
    """The shards in the page cache (warm), or nothing of them there (cold)."""
    if state == "warm":
        for name in sorted(os.listdir(directory)):
            with open(os.path.join(directory, name), "rb") as f:
                while f.read(1 << 24):
                    pass
        return
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError as e:
        sys.exit(f"error: --cache=cold drops Linux's page cache, which needs root ({e}).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shards", required=True, help="a directory of token shards (--mode=prepare)")
    parser.add_argument("--batch_size", type=int, default=480)
    parser.add_argument("--seq_len", type=int, default=1024)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--cache", choices=("warm", "cold"), default="warm",
        help="warm: the shards are read once before each loader (the loaders' own cost); cold: the page cache is "
        "dropped before each loader (Linux, as root: the disk's cost too)",
    )  # fmt: skip
    parser.add_argument("--only", choices=LOADERS, help="(internal) measure one loader in this process")
    args = parser.parse_args()
    if args.only:
        print(json.dumps(measure(args)))
        return
    figures = {}
    for name in LOADERS:
        page_cache(args.shards, args.cache)
        command = [sys.executable, __file__, f"--only={name}", *sys.argv[1:]]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode:
            figures[name] = {"error": result.stderr.strip().splitlines()[-1]}
            print(f"{name:14s} failed: {figures[name]['error']}")
            continue
        figures[name] = json.loads(result.stdout.strip().splitlines()[-1])
        f = figures[name]
        print(f"{name:14s} {f['ms']:8.2f} ms per batch, first batch after {f['first_batch_s']:.2f} s, peak memory "
              f"{f['peak_mb']:,.0f} MB (this process)", flush=True)  # fmt: skip
    print(json.dumps({"batch_size": args.batch_size, "seq_len": args.seq_len, **figures}))


if __name__ == "__main__":
    main()
