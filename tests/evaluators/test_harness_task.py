"""Harness tasks offline: the held-out continuation task, local YAML + JSONL tasks, and tasks that would need a
download, which fail at once with the local alternative."""

import json
import os
import time

import numpy as np
import pytest

pytest.importorskip("lm_eval")

from lm.data import text  # noqa: E402
from lm.evaluators import harness, harness_task  # noqa: E402
from lm.evaluators.harness_task import HELDOUT  # noqa: E402
from lm.run import prepare  # noqa: E402


@pytest.fixture(scope="module")
def char_lm():
    """A fresh character model of context 64 on the built-in corpus (scores are not the point here)."""
    from lm.config import default_config, shrink_to_smoke

    config = shrink_to_smoke(default_config())
    config.data.seq_len = 64
    run = prepare(config, None, restore="never")
    return harness.HarnessLM(model=run.model, params=run.state.params, tokenizer=run.tokenizer, batch_size=8)


@pytest.mark.parametrize("seed", range(5))
def test_each_document_holds_its_real_continuation_among_distinct_distractors(seed):
    source = "".join(chr(0x100 + i) for i in range(72))  # 72 different characters: each span is found once
    rng = np.random.default_rng(seed)
    docs = harness_task.continuation_docs(source, 5, rng, context_chars=8, continuation_chars=4)
    assert len(docs) == 5 and len({d["context"] for d in docs}) == 5
    for doc in docs:
        at = source.index(doc["context"]) + 8
        real = doc["choices"][doc["label"]]
        assert real == source[at : at + 4] and len(set(doc["choices"])) == 4
        for choice in doc["choices"]:  # a distractor shares no character with the real continuation
            assert len(choice) == 4 and (choice == real or abs(source.index(choice) - at) >= 4)
    assert len({d["label"] for d in docs}) > 1  # the answer's position is drawn, not always first
    again = harness_task.continuation_docs(source, 5, np.random.default_rng(seed), 8, 4)
    assert again == docs != harness_task.continuation_docs(source, 5, np.random.default_rng(seed + 10), 8, 4)


def test_a_text_too_short_for_one_question_is_refused():
    with pytest.raises(ValueError, match="too few for a heldout_continuation question"):
        harness_task.continuation_docs("to be or not to be", 10, np.random.default_rng(0))


def test_the_task_comes_from_the_run_s_splits_the_same_for_a_seed_and_loads_in_the_harness(tiny_config, tmp_path):
    train_text, eval_text, _ = text.read_splits(tiny_config.data)
    directory = harness_task.write_heldout_task(tiny_config.data, str(tmp_path / "a"), max_len=64)
    files = {name: open(os.path.join(directory, name)).read() for name in sorted(os.listdir(directory))}
    assert list(files) == ["heldout_continuation.yaml", "test.jsonl", "train.jsonl"]
    test_docs = [json.loads(line) for line in files["test.jsonl"].splitlines()]
    train_docs = [json.loads(line) for line in files["train.jsonl"].splitlines()]
    assert len(test_docs) == len(eval_text) // 60 and len(train_docs) == 75  # at most 100 few-shot examples
    assert all(d["context"] + d["choices"][d["label"]] in eval_text for d in test_docs)
    assert all(d["context"] + d["choices"][d["label"]] in train_text for d in train_docs)
    same = harness_task.write_heldout_task(tiny_config.data, str(tmp_path / "b"), max_len=64)
    assert open(os.path.join(same, "test.jsonl")).read() == files["test.jsonl"]
    other = harness_task.write_heldout_task(tiny_config.data, str(tmp_path / "c"), max_len=64, seed=1)
    assert open(os.path.join(other, "test.jsonl")).read() != files["test.jsonl"]
    harness_task.offline()
    task = harness_task.task_manager([HELDOUT], [directory]).load([HELDOUT])["tasks"][HELDOUT]
    assert [task.doc_to_choice(d) for d in task.test_docs()] == [d["choices"] for d in test_docs]
    assert task.config.fewshot_split is None and len(task.training_docs()) == 75


def test_a_local_yaml_and_jsonl_task_of_one_s_own_runs_and_writes_results(char_lm, tmp_path):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    rows = [
        {"q": "cat do", "options": ["g.", "y."], "answer": 0},
        {"q": "owl", "options": [" dog", " cat"], "answer": 1},
    ]
    (tasks / "mine.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tasks / "mine.yaml").write_text(
        "task: my_choice\ndataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {tasks / 'mine.jsonl'}\n"
        "output_type: multiple_choice\ntest_split: test\ndoc_to_text: q\ndoc_to_choice: options\n"
        "doc_to_target: answer\ntarget_delimiter: ''\nmetric_list:\n  - metric: acc\n"
    )
    out = tmp_path / "out"
    results, table = harness_task.evaluate(char_lm, ["my_choice"], [str(tasks)], None, None, str(out))
    assert results["n-samples"]["my_choice"]["effective"] == 2 and 0 <= results["results"]["my_choice"]["acc,none"] <= 1
    assert (out / "results.md").read_text() == table and "|my_choice|" in table
    assert json.loads((out / "results.json").read_text())["results"] == results["results"]
    (tasks / "mine.jsonl").unlink()
    with pytest.raises(ValueError, match="data file is missing .*mine.jsonl.* Fix the data_files paths"):
        harness_task.evaluate(char_lm, ["my_choice"], [str(tasks)], None, None, str(out))


def test_a_task_that_needs_a_download_fails_at_once_naming_the_local_alternative(char_lm, tmp_path):
    start = time.monotonic()
    with pytest.raises(ValueError, match=r"cannot be downloaded offline.*dataset_path: json.*--include_path=DIR"):
        harness_task.evaluate(char_lm, ["arc_easy"], [], None, 2, str(tmp_path / "out"))
    assert time.monotonic() - start < 60 and not (tmp_path / "out").exists()


def test_an_unknown_task_is_refused_with_the_closest_names(tmp_path):
    with pytest.raises(ValueError, match="unknown task 'heldout_continuaton' \\(close: heldout_continuation"):
        harness_task.task_manager(["heldout_continuaton"], [])
    with pytest.raises(ValueError, match="is not a directory"):
        harness_task.include_paths(["x"], None, str(tmp_path), 64, [str(tmp_path / "missing")])


def test_offline_unless_the_environment_allows_downloads(monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)  # restored after the test
    for name in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    harness_task.offline()
    assert datasets.config.HF_HUB_OFFLINE is True and os.environ["HF_DATASETS_OFFLINE"] == "1"
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
    harness_task.offline()
    assert datasets.config.HF_HUB_OFFLINE is False
