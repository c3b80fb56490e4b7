"""Memory flat in the corpus's size: --mode=prepare and a training run on token shards, at two corpus sizes.

    python tools/bench_shards.py --sizes_mb=50,1000 --dir=/tmp/bench_shards

For each size it writes a .jsonl corpus of that many megabytes: documents of the built-in corpus's text (its
Markov chain, lm/data/corpus.py), cut into documents of 200 to 4,000 characters, the first 5 MB repeated to
the size. Then it runs two launcher commands and reports their wall time and peak memory:
- `--mode=prepare` with the byte tokenizer and --num_workers (default 2);
- 200 training steps of experiments/default.py on the shards, with an eval of the validation split at the end.

A command's peak memory is the largest resident set of its process tree (the launcher and its workers),
sampled every 50 ms with psutil. It counts the pages of the shards' memory maps that the run has touched.
The last line is a JSON object with every figure.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lm.data import corpus  # noqa: E402


def write_corpus(path: str, megabytes: int) -> int:
    """A .jsonl corpus of about `megabytes` MB; returns its documents' count."""
    text, _ = corpus.generate(min(megabytes, 5) * 1_000_000)
    rng = np.random.default_rng(0)
    lines, start = [], 0
    while start < len(text):
        n = int(rng.integers(200, 4000))
        lines.append(json.dumps({"text": text[start : start + n]}) + "\n")
        start += n
    block = "".join(lines).encode()
    written = documents = 0
    with open(path, "wb") as f:
        while written < megabytes * 1_000_000:
            f.write(block)
            written += len(block)
            documents += len(lines)
    return documents


def measured(command: list[str]) -> dict:
    """Runs `command`; its wall time and the peak resident memory of its process tree (MB)."""
    start, peak = time.time(), 0
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    root = psutil.Process(process.pid)
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.05)
    output = process.stdout.read()
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{output[-3000:]}")
    return {"wall_s": round(time.time() - start, 1), "peak_rss_mb": round(peak / 2**20, 1), "output": output}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes_mb", default="50,1000")
    parser.add_argument("--dir", default="/tmp/bench_shards")
    parser.add_argument("--num_workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    launch, rows = [sys.executable, os.path.join(ROOT, "launch.py")], []
    for size in [int(s) for s in args.sizes_mb.split(",")]:
        path, shards = os.path.join(args.dir, f"corpus_{size}mb.jsonl"), os.path.join(args.dir, f"shards_{size}mb")
        documents = write_corpus(path, size)
        subprocess.run(["rm", "-rf", shards, os.path.join(args.dir, f"run_{size}mb")], check=True)
        data = [f"--config.data.shards={shards}", "--config.data.val_fraction=0.002"]
        prepare = measured([*launch, "--mode=prepare", f"--config.data.path={path}", "--config.data.tokenizer=byte",
                            f"--num_workers={args.num_workers}", *data])  # fmt: skip
        with open(os.path.join(shards, "manifest.json")) as f:
            manifest = json.load(f)
        tokens = sum(s["tokens"] for split in manifest["splits"].values() for s in split)
        train = measured([*launch, *data, f"--workdir={os.path.join(args.dir, f'run_{size}mb')}",
                          f"--config.train.num_steps={args.steps}", "--config.train.eval_every=0",
                          "--config.train.checkpoint_every=1000000", "--config.sample.num_samples=1"])  # fmt: skip
        rows.append(
            {
                "corpus_mb": round(os.path.getsize(path) / 1e6, 1),
                "documents": documents,
                "tokens": tokens,
                "prepare_s": prepare["wall_s"],
                "prepare_tokens_per_s": round(tokens / prepare["wall_s"]),
                "prepare_peak_rss_mb": prepare["peak_rss_mb"],
                "train_s": train["wall_s"],
                "train_peak_rss_mb": train["peak_rss_mb"],
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    small, large = rows[0], rows[-1]
    print(
        f"{large['corpus_mb']:,} MB against {small['corpus_mb']:,} MB: prepare peak RSS x"
        f"{large['prepare_peak_rss_mb'] / small['prepare_peak_rss_mb']:.3f}, training peak RSS x"
        f"{large['train_peak_rss_mb'] / small['train_peak_rss_mb']:.3f}"
    )
    print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
