"""The model families by name: build one from a ModelConfig, initialise its parameters, zero its decoding cache.

transformer      decoder-only and encoder-only Transformers (lm/models/transformer.py)
encoder_decoder  the encoder-decoder Transformer (lm/models/encoder_decoder.py)
gru              the GRU encoder-decoder with Luong attention (lm/models/gru.py)
"""

import jax

from lm.models import encoder_decoder, gru, transformer
from lm.models.config import ModelConfig

FAMILIES = {
    "transformer": transformer.TransformerLM,
    "encoder_decoder": encoder_decoder.EncoderDecoder,
    "gru": gru.GruEncoderDecoder,
}
SOURCED = ("encoder_decoder", "gru")  # the families that read a source


def build(config: ModelConfig):
    """The model of config.family."""
    return FAMILIES[config.family](config)


def init_cache(config: ModelConfig, batch_size: int, max_len: int, source_len: int = 0):
    """A zeroed decoding cache for `batch_size` rows of up to `max_len` tokens (and a source of source_len)."""
    if config.family == "encoder_decoder":
        return encoder_decoder.init_cache(config, batch_size, max_len, source_len)
    if config.family == "gru":
        return gru.init_cache(config, batch_size, source_len)
    return transformer.init_cache(config, batch_size, max_len)


def init_params(model, rng, seq_len: int = 8, method: str | None = None):
    """Parameters from `rng` for the model and the heads `method` uses (shapes do not depend on seq_len)."""
    if model.config.family in SOURCED:
        tokens = jax.numpy.zeros((1, min(seq_len, model.config.max_len)), jax.numpy.int32)
        return model.init(rng, tokens, source=tokens)["params"]
    return transformer.init_params(model, rng, seq_len, method)
