"""The model families, each a record of what the rest of the library needs of it: the module that builds,
initialises and caches it, whether it reads a source, the config rules of its own, its FLOPs, and the words
the console describes it with. Adding a family is a module of its own and one FAMILIES entry here.

transformer      decoder-only and encoder-only Transformers (lm/models/transformer.py)
encoder_decoder  the encoder-decoder Transformer (lm/models/encoder_decoder.py)
gru              the GRU encoder-decoder with Luong attention (lm/models/gru.py)

This file imports no JAX (lm/config.py checks a config with it): a family's module, which does, is imported
the first time a model of that family is built.
"""

import dataclasses
import importlib
from typing import Callable, Protocol

from lm.models import flops
from lm.models.config import ModelConfig


class Model(Protocol):
    """A model of any family: the Flax module its family builds from a ModelConfig. `apply` runs a method
    (`__call__`: token logits; `decode`: new tokens over a cache; a family's heads: classify, tag, ...)."""

    config: ModelConfig

    def init(self, rngs, *args, **kwargs): ...

    def apply(self, variables, *args, method=None, **kwargs): ...


@dataclasses.dataclass(frozen=True)
class Family:
    name: str
    # The family's module: it defines the Flax module `Model` (Model(config) builds it), and
    # init_cache(config, batch_size, max_len, source_len) and init_params(model, rng, seq_len, method).
    module: str
    # Reads a source sequence (an encoder-decoder): sampling takes the prompt as the source, a target starts at
    # [BOS]; scoring one text and the harness's continuations are not its job.
    sourced: bool
    # (model config) -> (what kind of model, its layers, its shape), for the console's model line
    describe: Callable
    # (model config, resolved) -> [(field, value, what is wrong with it and the fix)]: the family's own rules
    check: Callable
    # (model config, target_len, source_len) -> Flops of one row through the trunk (lm/models/flops.py)
    trunk_flops: Callable

    def load(self):
        """The family's module (imported now: JAX and Flax with it)."""
        return importlib.import_module(self.module)

    def forward_flops(self, c: ModelConfig, method: str | None, target_len: int, source_len: int = 0) -> flops.Flops:
        """Forward FLOPs of one row: the trunk, then the output of `method` (None: token logits)."""
        return self.trunk_flops(c, target_len, source_len) + flops.head(c, method, target_len)

    def training_flops(self, c: ModelConfig, method: str | None, target_len: int, source_len: int = 0) -> flops.Flops:
        """A training step's FLOPs for one row: the forward pass and a backward pass of twice its cost."""
        return self.forward_flops(c, method, target_len, source_len) * 3


def _transformer_shape(m) -> str:
    return f"{m.num_heads} heads, d_model {m.d_model}, d_ff {m.d_ff}, context {m.max_len}, {m.position} positions"


def _check_transformer(m) -> list:
    problems = []
    if m.parallel_residual and m.norm_position != "pre":
        problems.append(("model.parallel_residual", True, "needs pre-norm blocks (model.norm_position=pre)"))
    if m.sliding_window and not m.causal:
        problems.append(("model.sliding_window", m.sliding_window, "is for causal attention (a decoder); set it to 0"))
    return problems


def _check_encoder_decoder(m) -> list:
    if m.parallel_residual:  # its decoder's blocks cross-attend between self-attention and the MLP
        return [("model.parallel_residual", True, "needs blocks without cross-attention (model.family=transformer)")]
    return []


def _check_gru(m) -> list:
    problems = []
    if m.scan_layers or m.remat != "none":
        problems.append(("model.family", "gru", "runs its layers step by step: set model.scan_layers=False and "
                         "model.remat=none"))  # fmt: skip
    for field in ("parallel_residual", "sliding_window"):
        if m[field]:
            problems.append((f"model.{field}", m[field], "is an option of the Transformer blocks; a GRU has none"))
    defaults = {f.name: f.default for f in dataclasses.fields(ModelConfig)}
    for field in ("position", "rotary_fraction", "mlp", "norm", "norm_position", "attention", "attention_dropout"):
        if m[field] != defaults[field]:  # a knob the GRU would ignore in silence
            problems.append((f"model.{field}", m[field], "is an option of the Transformer; a GRU has none"))
    return problems


FAMILIES = {
    f.name: f
    for f in (
        Family(
            "transformer",
            "lm.models.transformer",
            sourced=False,
            describe=lambda m: ("causal" if m.causal else "bidirectional", str(m.num_layers), _transformer_shape(m)),
            check=_check_transformer,
            trunk_flops=flops.decoder_only,
        ),
        Family(
            "encoder_decoder",
            "lm.models.encoder_decoder",
            sourced=True,
            describe=lambda m: ("encoder-decoder", f"{m.num_encoder_layers} + {m.num_layers}", _transformer_shape(m)),
            check=_check_encoder_decoder,
            trunk_flops=flops.encoder_decoder,
        ),
        Family(
            "gru",
            "lm.models.gru",
            sourced=True,
            describe=lambda m: (
                "gru",
                f"{m.num_encoder_layers} + {m.num_layers}",
                f"hidden {m.d_model}, {'Luong attention' if m.rnn_attention else 'no attention'}",
            ),
            check=_check_gru,
            trunk_flops=flops.gru_encoder_decoder,
        ),
    )
}


def get(name: str) -> Family:
    """The family called `name` (model.family)."""
    if name not in FAMILIES:
        raise ValueError(f"model.family={name!r} is not a model family: choose one of {', '.join(FAMILIES)}.")
    return FAMILIES[name]


def of(model) -> Family:
    """The family of a built model."""
    return get(model.config.family)


def build(config: ModelConfig):
    """The model of config.family."""
    return get(config.family).load().Model(config)


def init_cache(config: ModelConfig, batch_size: int, max_len: int, source_len: int = 0):
    """A zeroed decoding cache for `batch_size` rows of up to `max_len` tokens (and a source of source_len)."""
    return get(config.family).load().init_cache(config, batch_size, max_len, source_len)


def init_params(model, rng, seq_len: int = 8, method: str | None = None):
    """Parameters from `rng` for the model and the heads `method` uses (shapes do not depend on seq_len)."""
    return of(model).load().init_params(model, rng, seq_len, method)
