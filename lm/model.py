"""The Transformer language model (decoder-only, GPT-2 layout) and its KV cache.

tokens [B, T] -> token embedding (+ learned / sinusoidal positions) -> dropout
              -> num_layers x Block -> final norm -> logits [B, T, V] (tied or separate head)
"""

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
from flax import traverse_util

from lm import attention
from lm.layers import Block, Norm, merge_batch_axes
from lm.positions import sinusoidal

# model.remat: what a block keeps for the backward pass. "full" stores only its input; "dots" also keeps
# the results of its matrix multiplications (no batch dims: not the attention scores), recomputing the rest.
REMAT_POLICIES = {"full": None, "dots": jax.checkpoint_policies.checkpoint_dots_with_no_batch_dims}
HEAD_MODULES = ("pooler", "classifier")  # fine-tuning heads: initialised fresh, never taken from pretraining


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The resolved `config.model` (see lm/config.py for what each field means)."""

    vocab_size: int
    num_layers: int
    num_heads: int
    d_model: int
    d_ff: int
    max_len: int
    causal: bool = True
    position: str = "learned"
    rope_base: float = 10000.0
    mlp: str = "gelu"
    gelu_approximate: bool = True
    norm: str = "layernorm"
    norm_eps: float = 1e-5
    norm_position: str = "pre"
    embedding_norm: bool = False
    type_vocab_size: int = 0
    use_bias: bool = True
    tie_embeddings: bool = True
    mlm_transform: bool = False
    head_bias: bool = False
    pooling: str = "first"
    pooler_dense: bool = True
    num_classes: int = 0
    dropout: float = 0.0
    attention_dropout: float = 0.0
    embedding_dropout: float = 0.0
    init_std: float = 0.02
    scale_residual_init: bool = True
    dtype: str = "float32"
    remat: str = "none"
    scan_layers: bool = False
    attention: str = "einsum"

    @classmethod
    def from_config(cls, model: ml_collections.ConfigDict) -> "ModelConfig":
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in model.to_dict().items() if k in fields})

    @property
    def head_dim(self) -> int:
        return self.d_model // self.num_heads


class TransformerLM(nn.Module):
    """One Transformer family: decoder-only (causal=True) or encoder-only (causal=False), with heads.

    The same trunk serves every objective; the objective picks the method:
      __call__  token logits over the vocabulary (causal LM, masked LM)
      classify  one label per sequence, from a pooled vector
      tag       one label per token
      decode    causal LM over a KV cache, for generation
    """

    config: ModelConfig

    def setup(self):
        c = self.config
        dtype = jnp.dtype(c.dtype)
        init = nn.initializers.normal(c.init_std)
        # GPT-2 scales the residual output projections by 1/sqrt(2 * layers): each layer adds two.
        out_std = c.init_std / math.sqrt(2 * c.num_layers) if c.scale_residual_init else c.init_std
        norm = lambda name: Norm(c.norm, c.norm_eps, c.use_bias, dtype, name=name)  # noqa: E731
        self.embed = nn.Embed(c.vocab_size, c.d_model, embedding_init=init, dtype=dtype, name="embed")
        if c.position == "learned":
            self.position_embed = nn.Embed(c.max_len, c.d_model, embedding_init=init, dtype=dtype)
        if c.type_vocab_size:
            self.type_embed = nn.Embed(c.type_vocab_size, c.d_model, embedding_init=init, dtype=dtype)
        if c.embedding_norm:
            self.embed_norm = norm("embed_norm")
        self.embed_dropout = nn.Dropout(c.embedding_dropout)
        block = Block
        if c.remat != "none":  # recompute each block's activations in the backward pass instead of storing them
            # Block.__call__(self, x, mask, positions, cache, cache_index, deterministic): `deterministic` is static.
            block = nn.remat(Block, policy=REMAT_POLICIES[c.remat], static_argnums=(6,))
        if c.scan_layers:  # one block, scanned over a leading layer axis of its parameters (and of the cache)
            block = nn.scan(
                block,
                variable_axes={"params": 0},
                split_rngs={"params": True, "dropout": True},
                in_axes=(nn.broadcast, nn.broadcast, 0, nn.broadcast, nn.broadcast),
                length=c.num_layers,
            )
        kwargs = dict(
            num_heads=c.num_heads,
            d_ff=c.d_ff,
            mlp=c.mlp,
            gelu_approximate=c.gelu_approximate,
            norm=c.norm,
            norm_eps=c.norm_eps,
            use_bias=c.use_bias,
            dropout=c.dropout,
            attention_dropout=c.attention_dropout,
            rotary=c.position == "rotary",
            rope_base=c.rope_base,
            init_std=c.init_std,
            out_std=out_std,
            post_norm=c.norm_position == "post",
            dtype=dtype,
            attention=c.attention,
        )
        if c.scan_layers:
            self.blocks = block(**kwargs, name="blocks")
        else:
            self.blocks = [block(**kwargs, name=f"block_{i}") for i in range(c.num_layers)]
        if c.norm_position == "pre":  # post-norm blocks end normalised already
            self.final_norm = norm("final_norm")
        if c.mlm_transform:  # BERT's prediction head: dense + activation + norm before the decoder
            self.mlm_dense = nn.Dense(c.d_model, use_bias=c.use_bias, kernel_init=init, dtype=dtype)
            self.mlm_norm = norm("mlm_norm")
        if not c.tie_embeddings:
            self.head = nn.Dense(c.vocab_size, use_bias=False, kernel_init=init, dtype=dtype)
        if c.head_bias:
            self.head_bias = self.param("head_bias", nn.initializers.zeros, (c.vocab_size,))
        if c.num_classes:
            if c.pooler_dense:  # BERT's pooler: dense + tanh on the pooled vector
                self.pooler = nn.Dense(c.d_model, kernel_init=init, dtype=dtype)
            self.classifier_dropout = nn.Dropout(c.dropout)
            self.classifier = nn.Dense(c.num_classes, kernel_init=init, dtype=dtype)

    def encode(self, tokens, positions=None, segment_ids=None, valid=None, token_types=None, deterministic=True):
        """Hidden states of the last layer.

        Args:
          tokens: [B, T] int token ids.
          positions: [B, T] positions (default 0..T-1; packed rows restart them per segment).
          segment_ids: [B, T] ids of packed documents; tokens attend only within their segment.
          valid: [B, T] bool, False at padding.
          token_types: [B, T] int token-type (sentence A / B) ids, with type_vocab_size > 0.
          deterministic: False enables dropout (needs a 'dropout' rng).
        Returns:
          [B, T, D].
        """
        B, T = tokens.shape
        if positions is None:
            positions = jnp.broadcast_to(jnp.arange(T), (B, T))
        mask = attention.causal_mask(positions, positions) if self.config.causal else None
        if segment_ids is not None:
            mask = _and(mask, attention.segment_mask(segment_ids, segment_ids))
        if valid is not None:
            mask = _and(mask, attention.padding_mask(valid, valid))
        x = self._embed(tokens, positions, token_types, deterministic)
        # Arguments positional: remat and scan need them so.
        if self.config.scan_layers:
            x, _ = self.blocks(x, mask, positions, None, None, deterministic)
        else:
            for block in self.blocks:
                x, _ = block(x, mask, positions, None, None, deterministic)
        return self.final_norm(x) if self.config.norm_position == "pre" else x

    def __call__(self, tokens, positions=None, segment_ids=None, valid=None, token_types=None, deterministic=True):
        """[B, T, V] float32 logits over the vocabulary at every position (arguments as `encode`)."""
        return self._logits(self.encode(tokens, positions, segment_ids, valid, token_types, deterministic))

    def classify(self, tokens, positions=None, segment_ids=None, valid=None, token_types=None, deterministic=True):
        """[B, C] float32 logits of one label per sequence.

        Pooling: "first" token ([CLS]), "last" valid token (what a causal model has read everything
        by), or "mean" over valid tokens.
        """
        h = self.encode(tokens, positions, segment_ids, valid, token_types, deterministic)  # [B, T, D]
        if valid is None:
            valid = jnp.ones(tokens.shape, bool)
        if self.config.pooling == "first":
            pooled = h[:, 0]
        elif self.config.pooling == "last":
            last = jnp.maximum(valid.sum(axis=1) - 1, 0)  # [B]
            pooled = jnp.take_along_axis(h, last[:, None, None], axis=1)[:, 0]
        else:
            w = valid[..., None].astype(h.dtype)
            pooled = (h * w).sum(axis=1) / jnp.maximum(w.sum(axis=1), 1.0)  # [B, D]
        if self.config.pooler_dense:
            pooled = jnp.tanh(self.pooler(pooled))
        pooled = self.classifier_dropout(pooled, deterministic)
        return self.classifier(pooled).astype(jnp.float32)

    def classify_packed(
        self, tokens, positions=None, segment_ids=None, valid=None, token_types=None, deterministic=True
    ):
        """[B, T, C] float32: `classify` with "first" pooling at every position of packed rows.

        Several texts share a row (segment_ids keep their attention apart, positions restart), each
        starting with its [CLS]; the objective reads the logits at those starts.
        """
        h = self.encode(tokens, positions, segment_ids, valid, token_types, deterministic)  # [B, T, D]
        if self.config.pooler_dense:
            h = jnp.tanh(self.pooler(h))
        return self.classifier(self.classifier_dropout(h, deterministic)).astype(jnp.float32)

    def tag(self, tokens, positions=None, segment_ids=None, valid=None, token_types=None, deterministic=True):
        """[B, T, C] float32 logits of one label per token."""
        h = self.encode(tokens, positions, segment_ids, valid, token_types, deterministic)
        return self.classifier(self.classifier_dropout(h, deterministic)).astype(jnp.float32)

    def decode(self, tokens, cache, cache_index, positions=None, key_valid=None):
        """Runs new tokens against the KV cache (prefill when T > 1, one step when T == 1).

        Args:
          tokens: [B, T] the tokens for cache slots cache_index .. cache_index + T - 1.
          cache: from `init_cache`, holding keys and values of the slots < cache_index.
          cache_index: int scalar, the slot where the new keys and values are written.
          positions: [B, T] the tokens' positions (default: their slots). Left-padded prompts of
            different lengths start each row's positions at its first real token.
          key_valid: [B, S_max] bool, False at the cache slots of padding (default: all valid).
        Returns:
          ([B, T, V] float32 logits, updated cache).
        """
        B, T = tokens.shape
        S = cache["k"].shape[2] if self.config.scan_layers else cache[0]["k"].shape[1]
        query_slots = cache_index + jnp.broadcast_to(jnp.arange(T), (B, T))
        if positions is None:
            positions = query_slots
        mask = attention.causal_mask(query_slots, jnp.broadcast_to(jnp.arange(S), (B, S)))  # hides unwritten slots
        if key_valid is not None:
            mask = mask & key_valid[:, None, None, :]
        x = self._embed(tokens, positions, None, deterministic=True)
        if self.config.scan_layers:
            x, new_cache = self.blocks(x, mask, positions, cache, cache_index, True)
        else:
            new_cache = []
            for block, layer_cache in zip(self.blocks, cache, strict=True):
                x, layer_cache = block(x, mask, positions, layer_cache, cache_index, True)
                new_cache.append(layer_cache)
        if self.config.norm_position == "pre":
            x = self.final_norm(x)
        return self._logits(x), new_cache

    def _embed(self, tokens, positions, token_types, deterministic):
        c = self.config
        x = self.embed(tokens)  # [B, T, D]
        if c.position == "learned":
            x = x + self.position_embed(positions)
        elif c.position == "sinusoidal":
            x = x + sinusoidal(positions, c.d_model).astype(x.dtype)
        if c.type_vocab_size:
            x = x + self.type_embed(jnp.zeros_like(tokens) if token_types is None else token_types)
        if c.embedding_norm:
            x = self.embed_norm(x)
        return self.embed_dropout(x, deterministic)

    def _logits(self, x):
        c = self.config
        if c.mlm_transform:
            x = self.mlm_norm(nn.gelu(merge_batch_axes(self.mlm_dense, x), approximate=c.gelu_approximate))
        logits = merge_batch_axes(self.embed.attend if c.tie_embeddings else self.head, x)  # [B, T, V]
        if c.head_bias:
            logits = logits + self.head_bias
        return logits.astype(jnp.float32)


def _and(mask, other):
    return other if mask is None else mask & other


def init_cache(config: ModelConfig, batch_size: int, max_len: int):
    """Zeroed keys and values for every layer: a list of {k, v} of [B, S_max, N, H] each, or with
    scan_layers one {k, v} of [L, B, S_max, N, H]."""
    shape = (batch_size, max_len, config.num_heads, config.head_dim)
    if config.scan_layers:
        zeros = jnp.zeros((config.num_layers, *shape), jnp.dtype(config.dtype))
        return {"k": zeros, "v": zeros}
    zeros = jnp.zeros(shape, jnp.dtype(config.dtype))
    return [{"k": zeros, "v": zeros} for _ in range(config.num_layers)]


def init_params(model: TransformerLM, rng: jax.Array, seq_len: int = 8, method: str | None = None):
    """Parameters from `rng` for the trunk and the heads that `method` uses (shapes do not depend on seq_len)."""
    tokens = jnp.zeros((1, min(seq_len, model.config.max_len)), jnp.int32)
    return model.init(rng, tokens, method=method)["params"]


def set_layer_layout(params: dict, scan: bool) -> dict:
    """`params` with the blocks laid out per layer (block_0, block_1, ...) or scanned (one "blocks"
    tree with a leading layer axis, model.scan_layers). Imports, exports and transplants go through
    this, so pretrained weights and workdirs fit either layout."""
    if scan and "block_0" in params:
        layers = sorted((k for k in params if k.startswith("block_")), key=lambda k: int(k.split("_")[1]))
        rest = {k: v for k, v in params.items() if not k.startswith("block_")}
        return {**rest, "blocks": jax.tree.map(lambda *xs: jnp.stack(xs), *[params[k] for k in layers])}
    if not scan and "blocks" in params:
        rest = {k: v for k, v in params.items() if k != "blocks"}
        num_layers = jax.tree.leaves(params["blocks"])[0].shape[0]
        layers = {f"block_{i}": jax.tree.map(lambda x, i=i: x[i], params["blocks"]) for i in range(num_layers)}
        return {**rest, **layers}
    return params


def transplant(fresh: dict, pretrained: dict) -> tuple[dict, int]:
    """`fresh` with every non-head parameter taken from `pretrained` (the classifier stays fresh; the
    pooler is taken when `pretrained` has one of the same shape, as BERT checkpoints do).

    Returns:
      (params, how many arrays were copied).
    Raises:
      ValueError: a trunk parameter is missing from `pretrained` or has another shape.
    """
    old = traverse_util.flatten_dict(set_layer_layout(pretrained, scan="blocks" in fresh))
    new = traverse_util.flatten_dict(fresh)
    problems, copied = [], 0
    for path, value in new.items():
        if path[0] in HEAD_MODULES:
            if path[0] == "pooler" and path in old and tuple(old[path].shape) == tuple(value.shape):
                new[path] = jnp.asarray(old[path], value.dtype)
                copied += 1
            continue
        if path not in old:
            problems.append(f"{'/'.join(path)} is missing")
        elif tuple(old[path].shape) != tuple(value.shape):
            problems.append(
                f"{'/'.join(path)} has shape {tuple(old[path].shape)}, the model needs {tuple(value.shape)}"
            )
        else:
            new[path] = jnp.asarray(old[path], value.dtype)
            copied += 1
    if problems:
        raise ValueError(
            f"The pretrained checkpoint does not fit this model: {'; '.join(problems[:4])}. Fine-tune with the "
            "architecture that pretrained it (init_from's config.json), or pretrain this one first."
        )
    return traverse_util.unflatten_dict(new), copied


def count_params(params) -> int:
    return sum(x.size for x in jax.tree.leaves(params))
