"""tools/bench_prepare.py: the corpus it writes, tiktoken's cache names, and the three lines of nanoGPT's
prepare.py it changes (a changed prepare.py stops it)."""

import hashlib
import json

import pytest

from tools import bench_prepare

NANOGPT_LINES = [
    "num_proc = 8\n",
    'dataset = load_dataset("openwebtext", num_proc=num_proc_load_dataset)\n',
    "total_batches = 1024\n",
]


def test_the_corpus_is_whole_lines_in_documents_repeated_to_the_size(tmp_path):
    text = "".join(f"line {i} of the play\n" for i in range(3000))  # 57 kB
    (tmp_path / "t.txt").write_text(text)
    documents = bench_prepare.write_corpus(str(tmp_path / "t.txt"), str(tmp_path / "c.jsonl"), megabytes=1)
    lines = (tmp_path / "c.jsonl").read_text().splitlines()
    assert len(lines) == documents and (tmp_path / "c.jsonl").stat().st_size >= 1_000_000
    texts = [json.loads(line)["text"] for line in lines]
    per_copy = texts.index(texts[0], 1)  # the text's documents, then again
    assert "".join(texts[:per_copy]) == text and all(t.endswith("\n") for t in texts)
    assert all(1000 <= len(t) <= 9100 for t in texts[: per_copy - 1])


def test_tiktoken_cache_and_nanogpt_script(tmp_path):
    (tmp_path / "gpt2").mkdir()
    (tmp_path / "gpt2" / "vocab.json").write_text("{}")
    (tmp_path / "gpt2" / "merges.txt").write_text("#version: 0.2\n")
    bench_prepare.tiktoken_cache(str(tmp_path / "gpt2"), str(tmp_path / "cache"))
    url = "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/encoder.json"
    assert (tmp_path / "cache" / hashlib.sha1(url.encode()).hexdigest()).read_text() == "{}"

    (tmp_path / "nanogpt" / "data" / "openwebtext").mkdir(parents=True)
    prepare = tmp_path / "nanogpt" / "data" / "openwebtext" / "prepare.py"
    prepare.write_text("import os\n" + "".join(NANOGPT_LINES))
    script = open(bench_prepare.nanogpt_script(str(tmp_path / "nanogpt"), str(tmp_path))).read()
    assert "data_files=os.environ['CORPUS']" in script and "min(1024, len(dset))" in script
    assert not any(line in script for line in NANOGPT_LINES)
    prepare.write_text("".join(NANOGPT_LINES[:2]))  # nanoGPT changed: the tool says which line it misses
    with pytest.raises(SystemExit, match="total_batches = 1024"):
        bench_prepare.nanogpt_script(str(tmp_path / "nanogpt"), str(tmp_path))
