"""tools/bench_loader.py: every loader reads the same batches (ours, nanoGPT's memory maps, Grain's)."""

import argparse
import itertools
import json

import numpy as np
import pytest

from lm.config import default_config
from lm.data import prepare
from tools import bench_loader


@pytest.mark.parametrize("other", ["memmap", "grain"])
def test_every_loader_reads_our_windows(tmp_path, other):
    if other == "grain":
        pytest.importorskip("grain")  # not a requirement: the tool measures it where it is installed
    documents = [" ".join(f"w{i * j % 97}" for j in range(50)) for i in range(400)]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps({"text": d}) + "\n" for d in documents))
    data = default_config().data
    data.path, data.tokenizer = str(tmp_path / "c.jsonl"), "byte"
    prepare.prepare(data, str(tmp_path / "shards"), None, num_workers=1)
    args = argparse.Namespace(shards=str(tmp_path / "shards"), batch_size=6, seq_len=32, batches=7, workers=1)

    def first(name):
        return list(itertools.islice(bench_loader.batches(argparse.Namespace(**vars(args), only=name)), 8))

    ours, theirs = first("ours"), first(other)
    assert len(ours) == len(theirs) == 8
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b[:, :-1])  # ours: the inputs, theirs: the windows with the last target
