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


def cross_entropy_sums(logits: jax.Array, targets: jax.Array, weights: jax.Array) -> dict[str, jax.Array]:
    """Summed cross-entropy, correct predictions and weight over the weighted targets.

    Args:
      logits: [..., V] float32.
      targets: [...] int.
      weights: [...] float, 0 where a position carries no loss.
    Returns:
      {"loss": sum of nats, "correct": sum of argmax hits, "weight": sum of weights} (scalars).
    """
    nats = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
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
    data: str = "text"  # what it reads: text (lm/data/text.py) | labels, tags (lm/data/labelled.py)
    specials: bool = False  # the tokenizer needs [PAD] [CLS] [SEP] [MASK] ...
    new_head: bool = False  # trains a fresh head (lm/models HEAD_MODULES) on a pretrained trunk
    scores_every_token: bool = True  # the loss covers every token of the text (bits per byte are meaningful)
    evaluators: tuple[str, ...] = ("perplexity",)  # what --config.evals="" reports (lm/evaluators/)
    loss: Callable = cross_entropy_sums  # (logits, targets, weights) -> {"loss", "correct", "weight"} sums
    binder: Callable | None = None  # (objective, config, tokenizer) -> the objective bound to them

    def bind(self, config: ml_collections.ConfigDict, tokenizer) -> "Objective":
        """This objective with what it takes from the config and the tokenizer."""
        return self.binder(self, config, tokenizer) if self.binder else self


def causal_lm(batch: dict, rng: jax.Array):
    """Next-token prediction: every position predicts the token after it.

    Args:
      batch: {"inputs": [B, T], "targets": [B, T], optional "weights": [B, T]}.
      rng: unused.
    Returns:
      ({"tokens": [B, T]}, targets [B, T], weights [B, T] float32).
    """
    del rng
    return {"tokens": batch["inputs"]}, batch["targets"], _weights(batch)


def masked_lm(
    batch: dict,
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


def label_prediction(batch: dict, rng: jax.Array):
    """Fine-tuning: a label per sequence ([B] labels) or per token ([B, T]), weights where they count.

    Args:
      batch: from lm/labelled.py: inputs, valid, token_types, labels, weights.
    Returns:
      ({"tokens", "valid", "token_types"}, labels, weights).
    """
    del rng
    inputs = {"tokens": batch["inputs"], "valid": batch["valid"], "token_types": batch["token_types"]}
    for key in ("segment_ids", "positions"):  # packed rows
        if key in batch:
            inputs[key] = batch[key]
    return inputs, batch["labels"], batch["weights"]


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
}
CAUSAL = OBJECTIVES["causal"]


def get(name: str) -> Objective:
    """The objective called `name` (config.objective), before it is bound to a config and a tokenizer."""
    if name not in OBJECTIVES:
        raise ValueError(f"Config field objective={name!r}: choose one of {', '.join(OBJECTIVES)}.")
    return OBJECTIVES[name]


def make(config: ml_collections.ConfigDict, tokenizer) -> Objective:
    """The configured objective, bound to the config and the tokenizer's special tokens."""
    return get(config.objective).bind(config, tokenizer)


def _weights(batch):
    weights = batch.get("weights")
    if weights is None:
        return jnp.ones(batch["inputs"].shape, jnp.float32)
    return weights
