"""Preparing a corpus in GPT-2's tokens: nanoGPT's data/openwebtext/prepare.py and our --mode=prepare, side by
side on one machine, alternating, with the ratio.

    git clone https://github.com/karpathy/nanoGPT ~/nanoGPT        # not part of this repository
    python tools/bench_prepare.py --nanogpt=~/nanoGPT --data=tinyshakespeare.txt --gpt2=~/models/gpt2

--gpt2 is a directory with GPT-2's vocab.json and merges.txt (experiments/gpt2_owt.py says where to get them);
they are the same files as tiktoken's encoder.json and vocab.bpe, so tiktoken's cache (TIKTOKEN_CACHE_DIR) is
filled from them and nothing is downloaded. tiktoken checks their hashes.

The corpus is a .jsonl of documents of 1,000 to 9,000 characters (OpenWebText's average is about 5,000) cut from
--data at line ends, repeated to --megabytes. Each round runs both commands, in alternating order:
- nanoGPT: its prepare.py, unchanged but for three lines: the corpus is `load_dataset("json", data_files=...)`
  instead of the Hub's openwebtext, num_proc is --num_workers, and a split of fewer than 1,024 documents is
  written in as many slices as it has documents (not 1,024, which its IndexError refuses). So it converts the
  JSON to Arrow, splits 0.05% of the documents off, tokenizes with tiktoken in `datasets.map(num_proc=...)`
  and writes train.bin and val.bin through a uint16 memory map. The datasets cache is fresh each round (a
  first run's cost).
- ours: `launch.py --config=experiments/gpt2_owt.py --mode=prepare --num_workers=N` into a fresh directory
  (GPT-2's BPE through tiktoken as well, lm/data/tiktoken_bpe.py).
Both count one end-of-text token per document, so their token totals must be equal; the tool checks that.
The last line is a JSON object with every figure; a ratio above 1 means ours is faster.
"""

import argparse
import glob
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPENAI = "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/"
PATCHES = {  # nanoGPT's line -> ours (asserted present, so a changed prepare.py stops the tool)
    "num_proc = 8\n": "num_proc = int(os.environ['NUM_PROC'])\n",
    'dataset = load_dataset("openwebtext", num_proc=num_proc_load_dataset)': (
        "dataset = load_dataset('json', data_files=os.environ['CORPUS'], num_proc=num_proc_load_dataset)"
    ),
    # it writes each split in 1024 slices; a split of fewer documents (the 0.05% held out of a corpus under 10 GB)
    # would stop it with an IndexError
    "total_batches = 1024\n": "total_batches = min(1024, len(dset))\n",
}


def write_corpus(text_path: str, path: str, megabytes: int) -> int:
    """The .jsonl corpus; returns its documents' count."""
    text = open(text_path, encoding="utf-8").read()
    rng = np.random.default_rng(0)
    lines, start = [], 0
    while start < len(text):
        end = text.find("\n", start + int(rng.integers(1000, 9000)))
        end = len(text) if end < 0 else end + 1
        lines.append(json.dumps({"text": text[start:end]}) + "\n")
        start = end
    block = "".join(lines).encode()
    repeats = -(-megabytes * 1_000_000 // len(block))
    with open(path, "wb") as f:
        for _ in range(repeats):
            f.write(block)
    return repeats * len(lines)


def tiktoken_cache(gpt2: str, directory: str) -> None:
    """tiktoken's GPT-2 files, named as its cache names them, from a Hugging Face GPT-2 directory."""
    os.makedirs(directory, exist_ok=True)
    for ours, theirs in (("vocab.json", "encoder.json"), ("merges.txt", "vocab.bpe")):
        name = hashlib.sha1((OPENAI + theirs).encode()).hexdigest()
        shutil.copy(os.path.join(gpt2, ours), os.path.join(directory, name))


def nanogpt_script(nanogpt: str, directory: str) -> str:
    source = open(os.path.join(nanogpt, "data", "openwebtext", "prepare.py")).read()
    for old, new in PATCHES.items():
        if old not in source:
            sys.exit(f"error: nanoGPT's prepare.py no longer has {old!r}; this tool patches that line.")
        source = source.replace(old, new)
    path = os.path.join(directory, "prepare.py")
    with open(path, "w") as f:
        f.write(source)
    return path


def timed(command: list[str], cwd: str, env: dict) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode:
        sys.exit(f"error: {' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nanogpt", required=True, help="a checkout of github.com/karpathy/nanoGPT")
    parser.add_argument("--data", required=True, help="a local text file the corpus is cut from")
    parser.add_argument("--gpt2", required=True, help="a directory with GPT-2's vocab.json and merges.txt")
    parser.add_argument("--megabytes", type=int, default=500)
    parser.add_argument("--num_workers", type=int, default=os.cpu_count())
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dir", default=None, help="where the corpus and outputs go (default: a temporary one)")
    args = parser.parse_args()
    work = args.dir or tempfile.mkdtemp(prefix="bench_prepare_")
    os.makedirs(work, exist_ok=True)
    corpus = os.path.join(work, "corpus.jsonl")
    documents = write_corpus(os.path.expanduser(args.data), corpus, args.megabytes)
    size = os.path.getsize(corpus)
    print(f"corpus: {corpus}, {size / 1e6:,.0f} MB, {documents:,} documents; {args.num_workers} workers", flush=True)
    env = dict(os.environ, TIKTOKEN_CACHE_DIR=os.path.join(work, "tiktoken"), HF_HUB_OFFLINE="1")
    env |= {"CORPUS": corpus, "NUM_PROC": str(args.num_workers), "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
    tiktoken_cache(os.path.expanduser(args.gpt2), env["TIKTOKEN_CACHE_DIR"])
    theirs_dir = os.path.join(work, "nanogpt")
    os.makedirs(theirs_dir, exist_ok=True)
    script = nanogpt_script(os.path.expanduser(args.nanogpt), theirs_dir)
    times = {"nanogpt": [], "ours": []}
    tokens = {}
    for r in range(args.rounds):
        order = ["nanogpt", "ours"] if r % 2 == 0 else ["ours", "nanogpt"]
        for name in order:
            if name == "nanogpt":
                cache = os.path.join(work, "hf_cache")
                shutil.rmtree(cache, ignore_errors=True)
                seconds = timed([sys.executable, script], theirs_dir, env | {"HF_DATASETS_CACHE": cache})
                tokens[name] = sum(os.path.getsize(os.path.join(theirs_dir, f"{s}.bin")) // 2 for s in ("train", "val"))
                shutil.rmtree(cache, ignore_errors=True)
            else:
                shards = os.path.join(work, "shards")
                shutil.rmtree(shards, ignore_errors=True)
                command = [sys.executable, "launch.py", "--config=experiments/gpt2_owt.py", "--mode=prepare",
                           f"--config.data.path={corpus}", f"--config.data.tokenizer_path={args.gpt2}",
                           f"--config.data.shards={shards}", f"--num_workers={args.num_workers}"]  # fmt: skip
                seconds = timed(command, ROOT, env)
                manifest = json.load(open(os.path.join(shards, "manifest.json")))
                tokens[name] = sum(s["tokens"] for split in manifest["splits"].values() for s in split)
            times[name].append(seconds)
            print(f"round {r + 1} {name:8s} {seconds:7.1f} s  {tokens[name]:,} tokens", flush=True)
    if tokens["nanogpt"] != tokens["ours"]:
        sys.exit(f"error: the token totals differ: nanoGPT {tokens['nanogpt']:,}, ours {tokens['ours']:,}.")
    median = {k: statistics.median(v) for k, v in times.items()}
    ratio = median["nanogpt"] / median["ours"]
    print(f"median: nanoGPT {median['nanogpt']:.1f} s, ours {median['ours']:.1f} s: ours is {ratio:.2f}x as fast")
    summary = {"megabytes": size / 1e6, "documents": documents, "tokens": tokens["ours"], "workers": args.num_workers}
    summary |= {"seconds": times, "median": median, "ratio": ratio}
    print(json.dumps(summary))
    for leftover in glob.glob(os.path.join(theirs_dir, "*.bin")):
        os.remove(leftover)


if __name__ == "__main__":
    main()
