"""The model families, each a record of what the rest of the library needs of it: how to build it from a
ModelConfig, initialise its parameters, zero its decoding cache, whether it reads a source, and the words the
console describes it with. Adding a family is a module of its own and one FAMILIES entry here.

transformer      decoder-only and encoder-only Transformers (lm/models/transformer.py)
encoder_decoder  the encoder-decoder Transformer (lm/models/encoder_decoder.py)
gru              the GRU encoder-decoder with Luong attention (lm/models/gru.py)
"""

import dataclasses
from typing import Callable

import jax

from lm.models import encoder_decoder, gru, transformer
from lm.models.config import ModelConfig


@dataclasses.dataclass(frozen=True)
class Family:
    name: str
    module: type  # the Flax module; Module(config) builds the model
    # (config, batch_size, max_len, source_len) -> a zeroed decoding cache for batch_size rows
    init_cache: Callable
    # Reads a source sequence (an encoder-decoder): sampling takes the prompt as the source, a target starts at
    # [BOS]; scoring one text and the harness's continuations are not its job.
    sourced: bool
    # (config) -> (what kind of model, its layers, its shape), for the console's model line
    describe: Callable


def _transformer_shape(m: ModelConfig) -> str:
    return f"{m.num_heads} heads, d_model {m.d_model}, d_ff {m.d_ff}, context {m.max_len}, {m.position} positions"


def _describe_transformer(m: ModelConfig) -> tuple[str, str, str]:
    return "causal" if m.causal else "bidirectional", str(m.num_layers), _transformer_shape(m)


def _describe_encoder_decoder(m: ModelConfig) -> tuple[str, str, str]:
    return "encoder-decoder", f"{m.num_encoder_layers} + {m.num_layers}", _transformer_shape(m)


def _describe_gru(m: ModelConfig) -> tuple[str, str, str]:
    shape = f"hidden {m.d_model}, {'Luong attention' if m.rnn_attention else 'no attention'}"
    return "gru", f"{m.num_encoder_layers} + {m.num_layers}", shape


FAMILIES = {
    f.name: f
    for f in (
        Family(
            "transformer",
            transformer.TransformerLM,
            lambda config, batch_size, max_len, source_len: transformer.init_cache(config, batch_size, max_len),
            sourced=False,
            describe=_describe_transformer,
        ),
        Family(
            "encoder_decoder",
            encoder_decoder.EncoderDecoder,
            encoder_decoder.init_cache,
            sourced=True,
            describe=_describe_encoder_decoder,
        ),
        Family(
            "gru",
            gru.GruEncoderDecoder,
            lambda config, batch_size, max_len, source_len: gru.init_cache(config, batch_size, source_len),
            sourced=True,
            describe=_describe_gru,
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
    return get(config.family).module(config)


def init_cache(config: ModelConfig, batch_size: int, max_len: int, source_len: int = 0):
    """A zeroed decoding cache for `batch_size` rows of up to `max_len` tokens (and a source of source_len)."""
    return get(config.family).init_cache(config, batch_size, max_len, source_len)


def init_params(model, rng, seq_len: int = 8, method: str | None = None):
    """Parameters from `rng` for the model and the heads `method` uses (shapes do not depend on seq_len)."""
    if of(model).sourced:
        tokens = jax.numpy.zeros((1, min(seq_len, model.config.max_len)), jax.numpy.int32)
        return model.init(rng, tokens, source=tokens)["params"]
    return transformer.init_params(model, rng, seq_len, method)
