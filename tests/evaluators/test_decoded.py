"""Decoded-text evaluators: exact match, the decoder that writes each eval target once per eval, and the files
of each decoded eval that other tools score."""

import json
import os
import subprocess
import sys

import numpy as np

from lm import experiment, metrics, train
from lm.evaluators.decoded import Decoder, ExactMatch
from lm.run import prepare
from tests.evaluators.test_bleu import FixedTexts

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_exact_match_counts_identical_texts():
    assert ExactMatch(FixedTexts(["abc", "ab", "cba"], ["abc", "abc", "cba"])).run(None) == {"exact_match": 2 / 3}


def test_the_decoder_writes_each_chosen_eval_target_once_per_state(tiny_config, tmp_path, monkeypatch):
    tiny_config.objective, tiny_config.data.task, tiny_config.data.task_examples = "seq2seq", "reverse", 200
    tiny_config.data.source_len = tiny_config.data.seq_len = 16
    run = prepare(tiny_config, None, restore="never")
    for beams in (1, 3):
        decoder = Decoder(run.runner, run.model, run.data, 8, num_examples=11, num_beams=beams, alpha=0.6,
                          max_new_tokens=15)  # fmt: skip
        calls = []
        real = decoder._fn
        monkeypatch.setattr(decoder, "_fn", lambda *a, calls=calls, real=real: calls.append(1) or real(*a))
        state = run.runner.put_state(run.state)
        texts = decoder.texts(state)
        assert len(texts) == 11 and decoder.references == [t for _, t in run.data.eval.texts[:11]]
        assert all(isinstance(t, str) and "[EOS]" not in t for t in texts)
        assert decoder.texts(state) is texts and len(calls) == 2  # 11 sources in batches of 8; not again
    assert Decoder(run.runner, run.model, run.data, 8, 0, 1, 0.6, 15).references == [t for _, t in run.data.eval.texts]
    np.testing.assert_array_equal(len(run.data.eval.sources), len(run.data.eval.texts))


def test_each_decoded_eval_is_written_to_files_that_the_sacrebleu_command_line_scores_as_we_do(tmp_path):
    """WORKDIR/eval/step_N/: decoded.jsonl and one-text-a-line files; sacreBLEU's own command line on them gives
    the eval/bleu of metrics.jsonl."""
    config = experiment.load(f"{ROOT}/experiments/seq2seq_tasks.py").get_config("smoke")
    # Two evals close to the random init, whose texts are of random letters (character BLEU small but not 0)
    # with untied embeddings: tied, an untrained decoder repeats its [BOS]; trained for a minute, this tiny
    # model first learns to stop at once (empty texts: BLEU 0 again)
    config.train.num_steps, config.train.eval_every, config.evals = 4, 2, "bleu,exact_match"
    config.model.tie_embeddings = False
    train.train(config, str(tmp_path))
    records = {r["step"]: r for r in metrics.read(str(tmp_path)) if "eval/bleu" in r}
    assert sorted(os.listdir(tmp_path / "eval")) == ["step_2", "step_4"] and sorted(records) == [2, 4]
    for step, record in records.items():
        outputs = tmp_path / "eval" / f"step_{step}"
        decoded = [json.loads(line) for line in (outputs / "decoded.jsonl").read_text().splitlines()]
        assert len(decoded) == config.eval_decode.num_examples
        for field, name in (("source", "sources"), ("reference", "references"), ("hypothesis", "hypotheses")):
            assert (outputs / f"{name}.txt").read_text().splitlines() == [d[field] for d in decoded]
        matched = np.mean([d["hypothesis"] == d["reference"] for d in decoded])
        assert matched == record["eval/exact_match"]
        assert all(d["reference"] == d["source"][::-1] for d in decoded)  # the reversal task: the pairs line up
        score = subprocess.run(
            [sys.executable, "-m", "sacrebleu", str(outputs / "references.txt"), "-i", str(outputs / "hypotheses.txt"),
             "-tok", "char", "-b", "-w", "6"], capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert float(score) == round(record["eval/bleu"], 6)
    assert min(r["eval/bleu"] for r in records.values()) > 0  # two evals, two sets of files
