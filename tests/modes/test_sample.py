"""--mode=sample (lm/modes/sample.py): continuations from the checkpoint, printed or written to a JSONL file;
its flags write config.sample."""

import json
import os

import numpy as np
import pytest

from lm import experiment, train
from lm.decoding import scoring, text
from lm.modes import sample
from lm.run import prepare

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_sample_reads_the_checkpoint(tiny_config, workdir, capsys):
    tiny_config.sample.temperature = 0.0
    texts = sample.sample(tiny_config, workdir, ["cat", "dog"])
    assert len(texts) == 4 and texts[0] == texts[1] and texts[2].startswith("dog")
    assert capsys.readouterr().out.count("--- sample") == 4


def test_every_field_flag_names_a_field_of_the_sample_section(tiny_config):
    assert set(sample.FIELDS) <= set(tiny_config.sample)


def test_a_prompt_file_is_sampled_into_records_whose_log_probability_is_the_texts_score(
    tiny_config, workdir, tmp_path, parsed
):
    """--prompt_file (a prompt a line) and --out: one record per prompt and sample; its log-probability is the
    score (lm/decoding/scoring.py, another path) of the continuation's characters after the prompt."""
    (tmp_path / "prompts.txt").write_text("cat\n\ndog sat\n")
    out = tmp_path / "samples.jsonl"
    parsed(f"--prompt_file={tmp_path}/prompts.txt", f"--out={out}", "--num_samples=2")
    tiny_config.sample.num_samples, tiny_config.sample.temperature = 2, 1.0
    sample.run(tiny_config, workdir, "")
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["prompt"], r["sample"]) for r in records] == [("cat", 0), ("cat", 1), ("dog sat", 0), ("dog sat", 1)]
    assert records[0]["continuation"] != records[1]["continuation"]  # two samples at temperature 1
    run = prepare(tiny_config, workdir, restore="required", data=False)
    for r in records:
        assert r["num_tokens"] == len(r["continuation"]) == tiny_config.sample.max_new_tokens  # characters
        scored = scoring.score_text(run.model, run.tokenizer, run.state.params, r["prompt"] + r["continuation"])
        expected = sum(lp for _, lp in scored["tokens"][len(r["prompt"]) :])
        np.testing.assert_allclose(r["log_probability"], expected, rtol=1e-5)


def test_an_encoder_decoders_samples_of_a_jsonl_prompt_file_score_as_a_naive_teacher_forced_pass(tmp_path, parsed):
    """The sources of a decoded eval (decoded.jsonl, its "source" field) as prompts of a GRU; the
    log-probability of targets of different lengths (batched, padded) against log-softmax written out over the
    model's logits, one target at a time."""
    config = experiment.load(f"{ROOT}/experiments/seq2seq_tasks.py").get_config("smoke")
    config.model.family, config.model.tie_embeddings, config.train.num_steps = "gru", False, 2
    config.sample.num_samples, config.sample.temperature = 1, 1.0
    train.train(config, str(tmp_path / "run"))
    decoded = [json.dumps({"source": s, "reference": s[::-1]}) for s in ("abc", "zz", "hello")]
    (tmp_path / "decoded.jsonl").write_text("\n".join(decoded) + "\n")
    parsed(f"--prompt_file={tmp_path}/decoded.jsonl", f"--out={tmp_path}/out.jsonl")
    sample.run(config, str(tmp_path / "run"), "")
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["prompt"] for r in records] == ["abc", "zz", "hello"]
    assert all(r["num_tokens"] <= config.sample.max_new_tokens and r["log_probability"] <= 0 for r in records)
    run = prepare(config, str(tmp_path / "run"), restore="required", data=False)
    sources = [np.asarray(run.tokenizer.encode(s), np.int32) for s in ("abc", "zz", "hello")]
    targets = [np.asarray(run.tokenizer.encode(t), np.int32) for t in ("cba", "z", "olleh")]
    computed = text._log_probabilities(run.model, run.tokenizer, run.state.params, sources, targets)
    for source, target, log_probability in zip(sources, targets, computed, strict=True):
        inputs = np.asarray([[run.tokenizer.special_ids["[BOS]"], *target[:-1]]], np.int32)
        logits = np.asarray(run.model.apply({"params": run.state.params}, inputs, source=source[None]), np.float64)
        shifted = logits[0] - logits[0].max(-1, keepdims=True)
        log_softmax = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
        np.testing.assert_allclose(log_probability, log_softmax[np.arange(len(target)), target].sum(), rtol=1e-4)


def test_a_prompt_file_that_cannot_be_read_is_named(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"prompt": "a"}\n{"text": "b"}\n')
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(ValueError, match=r"bad.jsonl, line 2, has no text field prompt \(or source\)"):
        sample.read_prompts(str(tmp_path / "bad.jsonl"))
    with pytest.raises(ValueError, match="empty.txt holds no prompt"):
        sample.read_prompts(str(tmp_path / "empty.txt"))
