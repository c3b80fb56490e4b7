"""The synthetic tasks: repeated tokens (periods, distinct tokens, the eval layout) and modular addition
(every pair once, the answers, the split, full batches), and the symbol tokenizer they write with."""

import numpy as np
import pytest

from lm.data import synthetic, tokenizers


def test_repeated_tokens_rows_repeat_distinct_tokens_with_their_period():
    data = synthetic.repeated_tokens(vocab_size=40, seq_len=32, num_eval=10, task_seed=3)
    batch = data.train_batch(step=5, seed=1, batch_size=64, seq_len=32)
    rows = np.concatenate([batch["inputs"], batch["targets"][:, -1:]], axis=1)  # [64, 33]
    np.testing.assert_array_equal(batch["inputs"][:, 1:], batch["targets"][:, :-1])
    periods = []
    for row in rows:
        period = next(p for p in range(1, 33) if (row[p:] == row[:-p]).all())  # the smallest period
        assert len(set(row[:period])) == period  # a period's tokens are distinct
        periods.append(period)
    assert min(periods) >= 4 and max(periods) <= 16 and len(set(periods)) > 5  # drawn from 32 // 8 .. 32 // 2
    again = data.train_batch(step=5, seed=1, batch_size=64, seq_len=32)
    other = data.train_batch(step=6, seed=1, batch_size=64, seq_len=32)
    np.testing.assert_array_equal(batch["inputs"], again["inputs"])
    assert not np.array_equal(batch["inputs"], other["inputs"])

    (eval_batch,) = data.eval_batches(batch_size=16, seq_len=32)  # 10 rows padded to 16
    np.testing.assert_array_equal(eval_batch["weights"].sum(1), [32] * 10 + [0] * 6)
    first = eval_batch["inputs"][:10]
    np.testing.assert_array_equal(first[:, 16:], first[:, :16])  # the second half repeats the first
    np.testing.assert_array_equal(eval_batch["targets"][:10, 15:31], first[:, :16])
    with pytest.raises(ValueError, match="vocab_size >= seq_len / 2"):
        synthetic.repeated_tokens(vocab_size=10, seq_len=32, num_eval=4, task_seed=0)


def test_modular_addition_holds_every_pair_once_and_scores_only_the_answer():
    p = 7
    data = synthetic.modular_addition(p, train_fraction=0.3, seq_len=3, task_seed=0, batch_size=14)
    full = data.train_batch(step=0, seed=0, batch_size=14, seq_len=3)  # int(0.3 * 49) = 14: the whole set
    np.testing.assert_array_equal(full["inputs"], data.train_batch(9, 4, 14, 3)["inputs"])  # every step
    evals = list(data.eval_batches(batch_size=16, seq_len=3))
    eval_inputs = np.concatenate([b["inputs"][b["weights"][:, -1] > 0] for b in evals])
    pairs = {(a, b) for a, b, _ in full["inputs"]} | {(a, b) for a, b, _ in eval_inputs}
    assert len(full["inputs"]) == 14 and len(eval_inputs) == 35 and len(pairs) == 49  # each pair once
    for batch in [full, *evals]:
        real = batch["weights"][:, -1] > 0
        a, b, eq = batch["inputs"][real].T
        np.testing.assert_array_equal(batch["targets"][real][:, -1], (a + b) % p)
        assert (eq == p).all()  # the "=" symbol
        np.testing.assert_array_equal(batch["weights"][real], [[0, 0, 1]] * real.sum())
    half = data.train_batch(step=1, seed=0, batch_size=6, seq_len=3)  # a random subset, without repeats
    assert len({tuple(r) for r in half["inputs"]}) == 6 and {tuple(r) for r in half["inputs"]} <= {
        tuple(r) for r in full["inputs"]
    }
    assert data.tokenizer.decode(full["inputs"][0]) == " {} {} =".format(*full["inputs"][0][:2])
    with pytest.raises(ValueError, match="more than the 14 training pairs"):
        synthetic.modular_addition(p, 0.3, 3, 0, batch_size=15)
    with pytest.raises(ValueError, match="seq_len=3"):
        synthetic.modular_addition(p, 0.3, 4, 0, batch_size=14)


def test_symbol_tokenizer_round_trips_refuses_unknown_symbols_and_reloads(tmp_path):
    tok = tokenizers.SymbolTokenizer(["0", "1", "2", "="])
    ids = tok.encode("2 1\n=  0")
    np.testing.assert_array_equal(ids, [2, 1, 3, 0])
    assert tok.decode(ids) == " 2 1 = 0" and tok.vocab_size == 4
    assert "1 2" + tok.decode(tok.encode("=")) == "1 2 ="  # a prompt and its continuation join as text
    with pytest.raises(ValueError, match="outside this task's vocabulary: '3 x'"):
        tok.encode("1 3 x")
    tokenizers.save(tok, str(tmp_path))
    again = tokenizers.load(str(tmp_path))
    assert isinstance(again, tokenizers.SymbolTokenizer) and again.symbols == tok.symbols
