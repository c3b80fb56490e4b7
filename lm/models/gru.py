"""The GRU encoder-decoder (Cho et al., 2014; Sutskever et al., 2014), with Luong's attention (Luong et al.,
2015): the recurrent baseline the Transformer replaced, on the same trainer, objective and decoding.

source [B, S] -> embedding -> num_encoder_layers x GRU -> states [B, S, D], each layer's final state
tokens [B, T] -> embedding -> num_layers x GRU, started from the encoder's final states
              -> (rnn_attention) dot-product attention over the encoder states, tanh(W_c [context; h])
              -> logits [B, T, V] (the target embedding transposed, or a separate head)

Cells are flax's GRUCell, which is torch.nn.GRU's step (with torch's two biases of the reset and update
gates summed; tests/models/test_gru.py). Training uses teacher forcing; with model.teacher_forcing_ratio
< 1 the decoder reads its own greedy prediction instead of the target at a random subset of steps (drawn
from the step's dropout key). Decoding keeps the decoder's hidden states, the encoder's states and their
validity in the cache; every leaf has the batch first, as beam search reorders them.
"""

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp

from lm.models.config import ModelConfig


@flax.struct.dataclass
class DecoderInputs:
    """What every decoder step reads besides its token: the encoder's states and the embedding table."""

    encoded: jax.Array  # [B, S, D]
    encoder_valid: jax.Array  # [B, S] bool
    embedding: jax.Array  # [V, D]
    deterministic: bool = flax.struct.field(pytree_node=False, default=True)


class DecoderStep(nn.Module):
    """One decoder step: (hidden [B, L, D], previous prediction [B]), (token [B], feed own prediction [B])
    -> new carry, logits [B, V]."""

    config: ModelConfig

    @nn.compact
    def __call__(self, carry, xs, inputs: DecoderInputs):
        c = self.config
        hidden, previous = carry
        token, own = xs
        token = jnp.where(own, previous, token)  # teacher forcing, or the model's own last prediction
        x = jnp.take(inputs.embedding, token, axis=0).astype(jnp.dtype(c.dtype))  # [B, D]
        new_hidden = []
        for i in range(c.num_layers):
            h, x = nn.GRUCell(c.d_model, dtype=jnp.dtype(c.dtype), name=f"gru_{i}")(hidden[:, i], x)
            new_hidden.append(h)
            x = nn.Dropout(c.dropout)(x, inputs.deterministic)
        if c.rnn_attention:  # Luong's global attention, dot score
            scores = jnp.einsum("BD,BSD->BS", x, inputs.encoded.astype(x.dtype)).astype(jnp.float32)
            scores = jnp.where(inputs.encoder_valid, scores, jnp.finfo(jnp.float32).min)
            weights = jax.nn.softmax(scores, axis=-1).astype(x.dtype)
            context = jnp.einsum("BS,BSD->BD", weights, inputs.encoded.astype(x.dtype))
            x = jnp.tanh(nn.Dense(c.d_model, use_bias=c.use_bias, name="combine")(jnp.concatenate([context, x], -1)))
        if c.tie_embeddings:
            logits = x @ inputs.embedding.T.astype(x.dtype)
        else:
            logits = nn.Dense(c.vocab_size, use_bias=False, name="head")(x)
        logits = logits.astype(jnp.float32)
        return (jnp.stack(new_hidden, axis=1), jnp.argmax(logits, axis=-1).astype(token.dtype)), logits


class GruEncoderDecoder(nn.Module):
    """The GRU family; `__call__` gives teacher-forced logits, `decode` runs over its cache."""

    config: ModelConfig

    def setup(self):
        c = self.config
        init = nn.initializers.normal(c.init_std)
        self.embed = nn.Embed(c.vocab_size, c.d_model, embedding_init=init, name="embed")
        if not c.share_embeddings:
            self.source_embed = nn.Embed(c.vocab_size, c.d_model, embedding_init=init)
        dtype = jnp.dtype(c.dtype)
        self.encoder = [
            nn.RNN(nn.GRUCell(c.d_model, dtype=dtype), name=f"encoder_{i}") for i in range(c.num_encoder_layers)
        ]
        self.dropout = nn.Dropout(c.dropout)
        self.decoder = nn.scan(
            DecoderStep,
            variable_broadcast="params",
            split_rngs={"params": False, "dropout": True},
            in_axes=(1, nn.broadcast),
            out_axes=1,
        )(c, name="decoder")

    def encode(self, source, source_valid=None, deterministic=True):
        """{"states": [B, S, D] the top layer's outputs, "final": [B, L, D] each layer's last real state}."""
        if source_valid is None:
            source_valid = jnp.ones(source.shape, bool)
        lengths = source_valid.sum(axis=1)
        x = (self.embed if self.config.share_embeddings else self.source_embed)(source)
        finals = []
        for layer in self.encoder:
            final, x = layer(x, seq_lengths=lengths, return_carry=True)
            finals.append(final)
            x = self.dropout(x, deterministic)
        return {"states": x, "final": self._decoder_start(finals)}

    def __call__(self, tokens, positions=None, segment_ids=None, valid=None, token_types=None, deterministic=True,
                 *, source, source_valid=None):  # fmt: skip
        """[B, T, V] float32 logits of the target after each of `tokens` ([BOS] target), teacher forced."""
        del positions, segment_ids, valid, token_types
        if source_valid is None:
            source_valid = jnp.ones(source.shape, bool)
        encoded = self.encode(source, source_valid, deterministic)
        own = jnp.zeros(tokens.shape, bool)
        ratio = self.config.teacher_forcing_ratio
        if not deterministic and ratio < 1.0:  # the model's own prediction at a random (1 - ratio) of steps
            own = jax.random.bernoulli(self.make_rng("dropout"), 1.0 - ratio, tokens.shape).at[:, 0].set(False)
        carry = (encoded["final"], tokens[:, 0])
        _, logits = self._run_decoder(carry, tokens, own, encoded["states"], source_valid, deterministic)
        return logits

    def decode(self, tokens, cache, cache_index, positions=None, key_valid=None, encoded=None, encoder_valid=None):
        """New target tokens against the cache (as the other families' decode). The first call (prefill)
        passes `encoded` (this model's `encode`) and `encoder_valid`, which go into the cache."""
        del cache_index, positions, key_valid  # a recurrent decoder reads its state, not the earlier tokens
        if encoded is not None:
            cache = {"hidden": encoded["final"], "states": encoded["states"], "encoder_valid": encoder_valid}
        carry = (cache["hidden"], tokens[:, 0])
        (hidden, _), logits = self._run_decoder(
            carry, tokens, jnp.zeros(tokens.shape, bool), cache["states"], cache["encoder_valid"], True
        )
        return logits, {**cache, "hidden": hidden}

    def _run_decoder(self, carry, tokens, own, states, encoder_valid, deterministic):
        inputs = DecoderInputs(states, encoder_valid, self.embed.embedding, deterministic)
        return self.decoder(carry, (tokens, own), inputs)

    def _decoder_start(self, finals: list) -> jax.Array:
        """[B, L, D]: decoder layer i starts from encoder layer i's final state (the last one's, if more)."""
        c = self.config
        return jnp.stack([finals[min(i, len(finals) - 1)] for i in range(c.num_layers)], axis=1)


Model = GruEncoderDecoder  # what lm/models/families.py builds


def init_params(model: GruEncoderDecoder, rng: jax.Array, seq_len: int = 8, method: str | None = None):
    """Parameters from `rng` (a source and a target of seq_len tokens; shapes do not depend on it)."""
    tokens = jnp.zeros((1, min(seq_len, model.config.max_len)), jnp.int32)
    return model.init(rng, tokens, source=tokens)["params"]


def init_cache(config: ModelConfig, batch_size: int, max_len: int, source_len: int):
    """A zeroed decoding cache: the decoder's hidden states [B, L, D], the encoder's [B, S, D], their validity
    (max_len: the families' signature; a GRU's state does not grow with the target)."""
    dtype = jnp.dtype(config.dtype)
    return {
        "hidden": jnp.zeros((batch_size, config.num_layers, config.d_model), dtype),
        "states": jnp.zeros((batch_size, source_len, config.d_model), dtype),
        "encoder_valid": jnp.zeros((batch_size, source_len), bool),
    }
