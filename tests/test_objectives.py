"""The objectives: masked-LM statistics, what masking never touches, determinism; causal, seq2seq (label
smoothing) and span corruption."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lm import config as config_lib
from lm import objectives
from lm.data import tokenizers

VOCAB = 50  # regular ids 0..49, specials appended at 50..56 (as the byte / char tokenizers do)


def masked(tokens, weights=None, rows=None, seed=0, **overrides):
    tok = tokenizers.CharTokenizer("".join(chr(65 + i) for i in range(VOCAB)), specials=True)
    c = config_lib.default_config()
    c.objective = "masked"
    for k, v in overrides.items():
        c.masking[k] = v
    objective = objectives.get(c.objective).bind(c, tok)
    B = tokens.shape[0]
    batch = {"inputs": jnp.asarray(tokens), "rows": jnp.arange(B) if rows is None else jnp.asarray(rows)}
    if weights is not None:
        batch["weights"] = jnp.asarray(weights)
    inputs, targets, selected = objective.prepare(batch, jax.random.PRNGKey(seed))
    return tok, np.asarray(inputs["tokens"]), np.asarray(targets), np.asarray(selected) > 0, inputs


def test_masking_statistics_match_15_percent_times_80_10_10():
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, VOCAB, (256, 128))
    tok, inputs, targets, selected, _ = masked(tokens)
    n = tokens[:, 1:].size  # position 0 becomes [CLS]
    rate = selected.sum() / n
    assert abs(rate - 0.15) < 4 * np.sqrt(0.15 * 0.85 / n)
    mask_id = tok.special_ids["[MASK]"]
    k = selected.sum()
    as_mask = (inputs[selected] == mask_id).mean()
    kept = (inputs[selected] == targets[selected]).mean()
    # A random replacement equals the original with probability 1/VOCAB: count it as kept.
    random = 1.0 - as_mask - kept
    for observed, expected in ((as_mask, 0.8), (random, 0.1 * (1 - 1 / VOCAB)), (kept, 0.1 + 0.1 / VOCAB)):
        assert abs(observed - expected) < 4 * np.sqrt(expected * (1 - expected) / k), (observed, expected)
    assert inputs[selected & (inputs != mask_id) & (inputs != targets)].max() < VOCAB  # random ids are regular


def test_masking_never_touches_specials_or_padding_and_labels_only_selected():
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, VOCAB, (64, 32))
    tokens[:, 10] = VOCAB + 3  # a [SEP] in every row
    weights = np.ones((64, 32), np.float32)
    weights[:, 24:] = 0.0  # padding
    tok, inputs, targets, selected, model_inputs = masked(tokens, weights, rate=0.5)
    assert not selected[:, 0].any() and not selected[:, 10].any() and not selected[:, 24:].any()
    assert (inputs[:, 0] == tok.special_ids["[CLS]"]).all()
    np.testing.assert_array_equal(inputs[:, 10], VOCAB + 3)
    np.testing.assert_array_equal(inputs[~selected], targets[~selected])  # unselected inputs are untouched
    np.testing.assert_array_equal(np.asarray(model_inputs["valid"]), weights > 0)


def test_original_token_never_leaks_at_mask_positions():
    rng = np.random.default_rng(2)
    tokens = rng.integers(0, VOCAB, (32, 64))
    tok, inputs, targets, selected, _ = masked(tokens)
    at_mask = inputs == tok.special_ids["[MASK]"]
    assert at_mask.any()
    assert (selected[at_mask]).all()  # every [MASK] carries loss ...
    assert not np.isin(targets[at_mask], [tok.special_ids["[MASK]"]]).any()  # ... on the original token
    assert (inputs[at_mask] != targets[at_mask]).all()


def test_masks_depend_on_seed_and_row_id_only():
    tokens = np.random.default_rng(3).integers(0, VOCAB, (8, 32))
    _, a, _, _, _ = masked(tokens, seed=0)
    _, b, _, _, _ = masked(tokens, seed=0)
    _, c, _, _, _ = masked(tokens, seed=1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # Rows 4..7 alone, with their global ids, get exactly the masks they got inside the full batch.
    _, half, _, _, _ = masked(tokens[4:], rows=np.arange(4, 8))
    np.testing.assert_array_equal(half, a[4:])


def test_whole_word_masking_selects_all_pieces_of_a_word():
    text = "the quick brown fox jumps over the lazy dog and keeps running far away\n" * 200
    tok = tokenizers.build("sentencepiece", text, vocab_size=300)
    c = config_lib.default_config()
    c.objective, c.data.tokenizer, c.masking.whole_word, c.masking.rate = "masked", "sentencepiece", True, 0.3
    objective = objectives.get(c.objective).bind(c, tok)
    ids = np.tile(tok.encode(" " + text.split("\n")[0]), (16, 1))
    _, targets, selected = objective.prepare(
        {"inputs": jnp.asarray(ids), "rows": jnp.arange(16)}, jax.random.PRNGKey(0)
    )
    starts = tok.word_starts()[ids]
    word = np.cumsum(starts, axis=1)
    selected = np.asarray(selected) > 0
    for r in range(16):
        for w in np.unique(word[r, 1:]):
            members = selected[r, 1:][word[r, 1:] == w]
            assert members.all() or not members.any()
    assert selected.any() and not selected.all()


def test_whole_word_needs_sentencepiece():
    c = config_lib.default_config()
    c.masking.whole_word = True
    with pytest.raises(ValueError, match="masking.whole_word.*sentencepiece"):
        config_lib.validate(c)


def test_causal_objective_passes_the_shifted_batch_through():
    batch = {"inputs": jnp.arange(6).reshape(2, 3), "targets": jnp.arange(1, 7).reshape(2, 3)}
    inputs, targets, weights = objectives.CAUSAL.prepare(batch, None)
    np.testing.assert_array_equal(inputs["tokens"], batch["inputs"])
    np.testing.assert_array_equal(targets, batch["targets"])
    np.testing.assert_array_equal(weights, 1.0)


def test_each_objective_states_what_it_needs_of_the_run():
    facts = {
        name: (o.method, o.attention, o.data, o.specials, o.new_head, o.scores_every_token, o.evaluators)
        for name, o in objectives.OBJECTIVES.items()
    }
    assert facts == {
        "causal": (None, "causal", "text", False, False, True, ("perplexity",)),
        "masked": (None, "bidirectional", "text", True, False, False, ("perplexity",)),
        "classify": ("classify", "any", "labels", True, True, False, ("classification",)),
        "tag": ("tag", "any", "tags", True, True, False, ("classification",)),
        "seq2seq": (None, "any", "pairs", True, False, False, ("perplexity", "exact_match", "bleu")),
        "span_corruption": (None, "any", "text", True, False, False, ("perplexity",)),
    }
    assert {name: o.families for name, o in objectives.OBJECTIVES.items()} == {
        "causal": ("transformer",), "masked": ("transformer",), "classify": ("transformer",), "tag": ("transformer",),
        "seq2seq": ("encoder_decoder", "gru"), "span_corruption": ("encoder_decoder", "gru"),
    }  # fmt: skip
    with pytest.raises(ValueError, match="objective='lm': choose one of causal, masked, classify, tag, seq2seq, span"):
        objectives.get("lm")


def test_packed_classification_is_scored_at_every_texts_first_token():
    c = config_lib.default_config()
    c.objective = "classify"
    tok = tokenizers.CharTokenizer("abc", specials=True)
    assert objectives.get(c.objective).bind(c, tok).method == "classify"
    c.data.pack = True
    assert objectives.get(c.objective).bind(c, tok).method == "classify_packed"


def test_no_module_outside_objectives_asks_which_objective_it_holds():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[1] / "lm"
    asks = re.compile(r"objective(\.name)?\s*(==|!=|in\b)|method\s*(==|!=|in\b)|\.objective\s*(==|!=|in\b)")
    found = [
        f"{path.relative_to(root.parent)}:{n}"
        for path in root.rglob("*.py")
        if path.name != "objectives.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if asks.search(line)
    ]
    assert found == []


def test_seq2seq_feeds_bos_target_and_scores_target_eos_only():
    batch = {
        "source": np.array([[5, 6, 0]]), "source_valid": np.array([[True, True, False]]),
        "inputs": np.array([[1, 7, 8, 0]]), "valid": np.array([[True, True, True, False]]),
        "targets": np.array([[7, 8, 2, 0]]), "weights": np.array([[1.0, 1.0, 1.0, 0.0]]),
    }  # fmt: skip
    inputs, targets, weights = objectives.get("seq2seq").prepare(batch, None)
    assert sorted(inputs) == ["source", "source_valid", "tokens", "valid"]
    np.testing.assert_array_equal(inputs["tokens"], batch["inputs"])
    np.testing.assert_array_equal(targets, batch["targets"])
    np.testing.assert_array_equal(weights, batch["weights"])


def test_label_smoothing_scores_against_a_mixture_of_one_hot_and_uniform():
    logits = jnp.array([[2.0, 0.0, -1.0]])
    log_p = jax.nn.log_softmax(logits)
    smoothed = objectives.cross_entropy_sums(logits, jnp.array([0]), jnp.ones(1), label_smoothing=0.3)
    expected = -(0.7 * log_p[0, 0] + 0.3 * log_p[0].mean())
    np.testing.assert_allclose(smoothed["loss"], expected, rtol=1e-6)
    c = config_lib.default_config()
    c.optim.label_smoothing = 0.1
    bound = objectives.get(c.objective).bind(c, tokenizers.CharTokenizer("abc"))
    np.testing.assert_allclose(
        bound.loss(logits, jnp.array([0]), jnp.ones(1))["loss"],
        objectives.cross_entropy_sums(logits, jnp.array([0]), jnp.ones(1), label_smoothing=0.1)["loss"],
    )


def restore(source, target, sentinel, eos):
    """The window a span-corrupted (source, target) pair came from, put back together by hand."""
    spans, current = {}, None
    for token in target:
        if token == eos:
            break
        if token >= sentinel:
            current = spans.setdefault(int(token), [])
        else:
            current.append(int(token))
    out = []
    for token in source:
        if token == eos:
            break
        out.extend(spans[int(token)] if token >= sentinel else [int(token)])
    return out


@pytest.mark.parametrize("length", [16, 64, 100])
def test_span_corruption_drops_spans_for_sentinels_and_the_target_puts_them_back(length):
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 20, (6, length)).astype(np.int32)
    batch = {"inputs": jnp.asarray(tokens), "rows": jnp.arange(6)}
    sentinel, bos, eos = 30, 28, 29
    inputs, targets, weights = objectives.span_corruption(batch, jax.random.PRNGKey(1), sentinel=sentinel, bos_id=bos,
                                                          eos_id=eos)  # fmt: skip
    num_noise, num_spans = objectives.span_counts(length, 0.15, 3.0)
    assert num_noise == round(0.15 * length) and num_spans == max(round(num_noise / 3), 1)
    assert inputs["source"].shape == (6, length - num_noise + num_spans + 1)
    assert targets.shape == (6, num_noise + num_spans + 1) and (weights == 1).all()
    np.testing.assert_array_equal(inputs["tokens"][:, 0], bos)
    np.testing.assert_array_equal(inputs["tokens"][:, 1:], targets[:, :-1])  # teacher forcing
    for row in range(6):
        source, target = np.asarray(inputs["source"][row]), np.asarray(targets[row])
        assert restore(source, target, sentinel, eos) == tokens[row].tolist()
        assert sorted(source[source >= sentinel]) == list(range(sentinel, sentinel + num_spans))
    assert len({tuple(np.asarray(inputs["source"][r] >= sentinel)) for r in range(6)}) > 1  # rows differ


def test_span_corruption_masks_depend_on_the_row_id_only():
    tokens = jnp.asarray(np.random.default_rng(2).integers(0, 20, (4, 32)), jnp.int32)
    corrupt = functools.partial(objectives.span_corruption, sentinel=30, bos_id=28, eos_id=29)
    run = jax.jit(lambda rows, t: corrupt({"inputs": t, "rows": rows}, jax.random.PRNGKey(3))[0]["source"])
    whole = run(jnp.arange(4), tokens)
    np.testing.assert_array_equal(run(jnp.arange(2, 4), tokens[2:]), whole[2:])  # half of the batch, same rows
