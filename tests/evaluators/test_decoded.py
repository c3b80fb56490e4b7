"""Decoded-text evaluators: exact match, and the decoder that writes each eval target once per eval."""

import numpy as np

from lm.evaluators.decoded import Decoder, ExactMatch
from lm.run import prepare
from tests.evaluators.test_bleu import FixedTexts


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
