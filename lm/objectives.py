"""Objectives: how a batch becomes (model inputs, targets, weights), the loss, and what each needs of a run.

The model never knows which objective trains it: an objective is a data + mask transform and the name
of the model method that scores its inputs. It also says what the rest of the run needs to know, so that
no other module asks which objective it holds: the attention direction, which data it reads, whether the
tokenizer needs special tokens, whether it trains a fresh head, and which evaluators report on it
(lm/evaluators/). Losses are returned as sums with the total weight, so micro-batches and devices combine
exactly: mean = sum of sums / sum of weights.

Randomness (which tokens the masked objective selects) comes from the step's key folded with each
row's global index in the batch (`batch["rows"]`), so the masks are the same whether a batch runs on
one device, is split across eight, or is accumulated in micro-batches.
"""

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from lm.batch import LabelledBatch, PairsBatch, TextBatch


def cross_entropy_sums(
    logits: jax.Array, targets: jax.Array, weights: jax.Array, label_smoothing: float = 0.0
) -> dict[str, jax.Array]:
    """Summed cross-entropy, correct predictions and weight over the weighted targets.

    Args:
      logits: [..., V] float32.
      targets: [...] int.
      weights: [...] float, 0 where a position carries no loss.
      label_smoothing: e > 0 scores against (1 - e) one-hot + e uniform (Szegedy et al., 2016).
    Returns:
      {"loss": sum of nats, "correct": sum of argmax hits, "weight": sum of weights} (scalars).
    """
    nats = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
    if label_smoothing:
        uniform = -jax.nn.log_softmax(logits, axis=-1).mean(axis=-1)  # cross-entropy against the uniform
        nats = (1.0 - label_smoothing) * nats + label_smoothing * uniform
    correct = (jnp.argmax(logits, axis=-1) == targets).astype(jnp.float32)
    return {"loss": (nats * weights).sum(), "correct": (correct * weights).sum(), "weight": weights.sum()}


@dataclasses.dataclass(frozen=True)
class Objective:
    """What a batch trains, and what that asks of the model, the data, the tokenizer and the evaluation.

    prepare(batch, rng) -> (model inputs, targets, weights): the data + mask transform.
    """

    name: str
    prepare: Callable | None  # None until `bind` (the masked LM needs the tokenizer's special ids)
    method: str | None = None  # the model method that scores the inputs; None: __call__ (token logits)
    attention: str = "causal"  # what the model must be: causal | bidirectional | any (default bidirectional)
    data: str = "text"  # what it reads: text (lm/data/text.py) | labels, tags (lm/data/labelled.py) | pairs
    families: tuple[str, ...] = ("transformer",)  # the model families it trains (lm/models/); the first is the default
    specials: bool = False  # the tokenizer needs [PAD] [CLS] [SEP] [MASK] ...
    new_head: bool = False  # trains a fresh head (lm/models HEAD_MODULES) on a pretrained trunk
    scores_every_token: bool = True  # the loss covers every token of the text (bits per byte are meaningful)
    evaluators: tuple[str, ...] = ("perplexity",)  # what --config.evals="" reports (lm/evaluators/)
    loss: Callable = cross_entropy_sums  # (logits, targets, weights) -> {"loss", "correct", "weight"} sums
    binder: Callable | None = None  # (objective, config, tokenizer) -> the objective bound to them
    extra_tokens: Callable | None = None  # (config) -> ids the model needs beyond the tokenizer's (sentinels)

    def bind(self, config: ml_collections.ConfigDict, tokenizer) -> "Objective":
        """This objective with what it takes from the config and the tokenizer (the training loss smoothed
        by optim.label_smoothing). `lm.run.prepare` and the tests bind it here, and only here."""
        bound = self.binder(self, config, tokenizer) if self.binder else self
        if config.optim.label_smoothing:
            loss = functools.partial(bound.loss, label_smoothing=config.optim.label_smoothing)
            bound = dataclasses.replace(bound, loss=loss)
        return bound


def causal_lm(batch: TextBatch, rng: jax.Array):
    """Next-token prediction: every position predicts the token after it.

    Args:
      batch: {"inputs": [B, T], "targets": [B, T], optional "weights": [B, T]; with data.document_mask,
        "segment_ids" and "positions": each document of a window attends to itself, from position 0}.
      rng: unused.
    Returns:
      ({"tokens": [B, T], and segment_ids / positions when given}, targets [B, T], weights [B, T] float32).
    """
    del rng
    inputs = {"tokens": batch["inputs"], **{k: batch[k] for k in ("segment_ids", "positions") if k in batch}}
    return inputs, batch["targets"], _weights(batch)


def masked_lm(
    batch: TextBatch,
    rng: jax.Array,
    *,
    mask_id: int,
    cls_id: int,
    special_ids: np.ndarray,
    regular_ids: np.ndarray,
    word_starts: np.ndarray | None = None,
    rate: float = 0.15,
    mask_fraction: float = 0.8,
    random_fraction: float = 0.1,
):
    """BERT's masked LM (Devlin et al., 2019): predict selected tokens from both sides.

    A window of text gets [CLS] at position 0. Each non-special, non-padding token (or whole word,
    with `word_starts`) is selected with probability `rate`; a selected token becomes [MASK] with
    probability mask_fraction, a random regular token with probability random_fraction, and stays
    itself otherwise. Only selected positions carry loss.

    Args:
      batch: {"inputs": [B, T] token windows, "rows": [B] global row ids, optional "weights": [B, T]
        (0 at padding)}.
      rng: the step's key; each row folds in its id.
    Returns:
      ({"tokens": [B, T] corrupted, "valid": [B, T]}, original tokens [B, T], selected [B, T] float32).
    """
    tokens = batch["inputs"].at[:, 0].set(cls_id)
    valid = _weights(batch) > 0
    candidates = valid & ~jnp.isin(tokens, jnp.asarray(special_ids))

    def draws(row, row_tokens):
        k_select, k_action, k_random = jax.random.split(jax.random.fold_in(rng, row), 3)
        T = row_tokens.shape[0]
        u = jax.random.uniform(k_select, (T + 1,))
        if word_starts is not None:  # one draw per word: every piece of a word shares its word's draw
            word = jnp.cumsum(jnp.asarray(word_starts)[row_tokens])  # [T], word index of each piece, <= T
            u = u[word]
        else:
            u = u[:T]
        action = jax.random.uniform(k_action, (T,))
        random_tokens = jnp.asarray(regular_ids)[jax.random.randint(k_random, (T,), 0, len(regular_ids))]
        return u, action, random_tokens

    u, action, random_tokens = jax.vmap(draws)(batch["rows"], tokens)  # [B, T] each
    selected = candidates & (u < rate)
    corrupted = jnp.where(selected & (action < mask_fraction), mask_id, tokens)
    replace = selected & (action >= mask_fraction) & (action < mask_fraction + random_fraction)
    corrupted = jnp.where(replace, random_tokens, corrupted)
    return {"tokens": corrupted, "valid": valid}, tokens, selected.astype(jnp.float32)


def label_prediction(batch: LabelledBatch, rng: jax.Array):
    """Fine-tuning: a label per sequence ([B] labels) or per token ([B, T]), weights where they count.

    Args:
      batch: from lm/data/labelled.py (lm/batch.py: LabelledBatch).
    Returns:
      ({"tokens", "valid", "token_types"}, labels, weights).
    """
    del rng
    inputs = {"tokens": batch["inputs"], "valid": batch["valid"], "token_types": batch["token_types"]}
    for key in ("segment_ids", "positions"):  # packed rows
        if key in batch:
            inputs[key] = batch[key]
    return inputs, batch["labels"], batch["weights"]


def seq2seq(batch: PairsBatch, rng: jax.Array):
    """Sequence to sequence with teacher forcing: the decoder reads [BOS] target and predicts target [EOS].

    Args:
      batch: from lm/data/pairs.py (lm/batch.py: PairsBatch): source, source_valid, inputs ([BOS] target),
        valid, targets (target [EOS]), weights (1 on target tokens and EOS, 0 at padding).
    Returns:
      ({"tokens", "valid", "source", "source_valid"}, targets, weights).
    """
    del rng
    inputs = {k: batch[k] for k in ("valid", "source", "source_valid")}
    return {"tokens": batch["inputs"], **inputs}, batch["targets"], batch["weights"]


def span_lengths(rng: jax.Array, num_items: int, num_spans: int) -> jax.Array:
    """num_items split at random into num_spans runs of at least one item: [num_spans] lengths."""
    cuts = jax.random.permutation(rng, num_items - 1) < num_spans - 1  # [num_items - 1]: which gaps cut
    run = jnp.concatenate([jnp.zeros(1, jnp.int32), jnp.cumsum(cuts)])  # [num_items]: run index of each item
    return jnp.zeros(num_spans, jnp.int32).at[run].add(1)


def noise_mask(rng: jax.Array, length: int, noise_density: float, mean_span_length: float) -> jax.Array:
    """[length] bool, True on the corrupted tokens: round(length x density) of them in num_spans runs of mean
    length `mean_span_length`, with clean runs between them and (possibly empty) clean runs at both ends
    (T5's random_spans_noise_mask, which always starts clean and so, with one span, always ends in noise)."""
    num_noise, num_spans = span_counts(length, noise_density, mean_span_length)
    noise_rng, clean_rng = jax.random.split(rng)
    noise = span_lengths(noise_rng, num_noise, num_spans)
    clean = span_lengths(clean_rng, length - num_noise + 2, num_spans + 1)  # >= 1 each ...
    clean = clean.at[0].add(-1).at[-1].add(-1)  # ... but the two at the ends may be empty
    runs = jnp.concatenate([jnp.stack([clean[:-1], noise], axis=1).reshape(-1), clean[-1:]])
    flips = jnp.zeros(length, jnp.int32).at[jnp.cumsum(runs)[:-1]].add(1, mode="drop")
    return jnp.cumsum(flips) % 2 == 1


def span_counts(length: int, noise_density: float, mean_span_length: float) -> tuple[int, int]:
    """(corrupted tokens, spans) of a window of `length` tokens: fixed, so that every batch has one shape."""
    num_noise = min(max(int(round(length * noise_density)), 1), length - 1)
    return num_noise, max(int(round(num_noise / mean_span_length)), 1)


def span_corruption(
    batch: TextBatch,
    rng: jax.Array,
    *,
    sentinel: int,
    bos_id: int,
    eos_id: int,
    noise_density: float = 0.15,
    mean_span_length: float = 3.0,
):
    """T5's span corruption (Raffel et al., 2020): spans of the text become sentinels in the encoder's input,
    and the decoder writes each dropped span after its sentinel.

    A window  x1 x2 x3 x4 x5 x6 x7 x8  with spans (x3 x4) and (x7) dropped becomes
      source  x1 x2 <s0> x5 x6 <s1> x8 [EOS]
      target  <s0> x3 x4 <s1> x7 [EOS]        (the decoder reads [BOS] <s0> x3 x4 <s1> x7)
    Sentinel i is id sentinel + i (ids after the tokenizer's own: the model's vocabulary has room for them).

    Args:
      batch: {"inputs": [B, T] token windows, "rows": [B] global row ids, optional "weights": [B, T]}.
      rng: the step's key; each row folds in its id.
    Returns:
      ({"tokens", "valid", "source", "source_valid"}, targets [B, L], weights [B, L]): L = the target's length,
      fixed by T, noise_density and mean_span_length; rows with padding (the eval split's tail) weigh 0.
    """
    tokens = batch["inputs"]
    B, T = tokens.shape
    num_noise, num_spans = span_counts(T, noise_density, mean_span_length)
    source_len, target_len = T - num_noise + num_spans + 1, num_noise + num_spans + 1

    def corrupt(row, row_tokens):
        noise = noise_mask(jax.random.fold_in(rng, row), T, noise_density, mean_span_length)
        starts = noise & ~jnp.concatenate([jnp.zeros(1, bool), noise[:-1]])  # the first token of a noise span
        span = jnp.cumsum(starts) - 1  # [T]: index of the noise span a token is in (or the last before it)
        # the source: clean tokens, and each noise span's sentinel in place of the span; [EOS] after them
        keep = ~noise | starts
        slot = jnp.where(keep, jnp.cumsum(keep) - 1, source_len)  # out of range: dropped
        values = jnp.where(starts, sentinel + span, row_tokens)
        source = jnp.full(source_len, eos_id, jnp.int32).at[slot].set(values, mode="drop")
        # the target: each span's sentinel, then its tokens; [EOS] after them
        slot = jnp.cumsum(starts) + jnp.cumsum(noise) - 1  # of each noise token: its span's sentinel comes first
        target = jnp.full(target_len, eos_id, jnp.int32)
        target = target.at[jnp.where(noise, slot, target_len)].set(row_tokens, mode="drop")
        target = target.at[jnp.where(starts, slot - 1, target_len)].set(sentinel + span, mode="drop")
        return source, target

    source, targets = jax.vmap(corrupt)(batch["rows"], tokens)  # [B, S], [B, L]
    decoder_input = jnp.concatenate([jnp.full((B, 1), bos_id, jnp.int32), targets[:, :-1]], axis=1)
    row_weight = jnp.ones(B, jnp.float32) if "weights" not in batch else (batch["weights"].min(axis=1) > 0)
    weights = jnp.broadcast_to(row_weight.astype(jnp.float32)[:, None], targets.shape)
    inputs = {
        "tokens": decoder_input,
        "valid": jnp.ones(targets.shape, bool),
        "source": source,
        "source_valid": jnp.ones(source.shape, bool),
    }
    return inputs, targets, weights


def _bind_masked(objective: Objective, config: ml_collections.ConfigDict, tokenizer) -> Objective:
    m = config.masking
    prepare = functools.partial(
        masked_lm,
        mask_id=tokenizer.special_ids["[MASK]"],
        cls_id=tokenizer.special_ids["[CLS]"],
        special_ids=np.asarray(sorted(tokenizer.special_ids.values()), np.int32),
        regular_ids=tokenizer.regular_ids(),
        word_starts=tokenizer.word_starts() if m.whole_word else None,
        rate=m.rate,
        mask_fraction=m.mask_fraction,
        random_fraction=m.random_fraction,
    )
    return dataclasses.replace(objective, prepare=prepare)


def _bind_classify(objective: Objective, config: ml_collections.ConfigDict, tokenizer) -> Objective:
    del tokenizer
    if config.data.pack:  # several texts per row: a label at each text's [CLS] (lm/data/labelled.py)
        return dataclasses.replace(objective, method="classify_packed")
    return objective


def _bind_span_corruption(objective: Objective, config: ml_collections.ConfigDict, tokenizer) -> Objective:
    s = config.span_corruption
    prepare = functools.partial(
        span_corruption,
        sentinel=tokenizer.vocab_size,  # the sentinels follow the tokenizer's ids
        bos_id=tokenizer.special_ids["[BOS]"],
        eos_id=tokenizer.special_ids["[EOS]"],
        noise_density=s.noise_density,
        mean_span_length=s.mean_span_length,
    )
    return dataclasses.replace(objective, prepare=prepare)


def _sentinels(config: ml_collections.ConfigDict) -> int:
    """One sentinel id per span of a window."""
    return span_counts(
        config.data.seq_len, config.span_corruption.noise_density, config.span_corruption.mean_span_length
    )[1]


_FINE_TUNING = dict(
    prepare=label_prediction, attention="any", specials=True, new_head=True, scores_every_token=False,
    evaluators=("classification",),
)  # fmt: skip
OBJECTIVES = {
    "causal": Objective("causal", causal_lm),
    "masked": Objective(
        "masked", None, attention="bidirectional", specials=True, scores_every_token=False, binder=_bind_masked
    ),
    "classify": Objective("classify", method="classify", data="labels", binder=_bind_classify, **_FINE_TUNING),
    "tag": Objective("tag", method="tag", data="tags", **_FINE_TUNING),
    "seq2seq": Objective(
        "seq2seq",
        seq2seq,
        attention="any",
        data="pairs",
        families=("encoder_decoder", "gru"),
        specials=True,
        scores_every_token=False,
        evaluators=("perplexity", "exact_match", "bleu"),
    ),
    "span_corruption": Objective(
        "span_corruption",
        None,
        attention="any",
        families=("encoder_decoder", "gru"),
        specials=True,
        scores_every_token=False,
        binder=_bind_span_corruption,
        extra_tokens=_sentinels,
    ),  # fmt: skip
}
CAUSAL = OBJECTIVES["causal"]


def get(name: str) -> Objective:
    """The objective called `name` (config.objective), before it is bound to a config and a tokenizer."""
    if name not in OBJECTIVES:
        raise ValueError(f"Config field objective={name!r}: choose one of {', '.join(OBJECTIVES)}.")
    return OBJECTIVES[name]


def _weights(batch):
    weights = batch.get("weights")
    if weights is None:
        return jnp.ones(batch["inputs"].shape, jnp.float32)
    return weights
