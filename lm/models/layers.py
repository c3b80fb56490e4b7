"""Transformer building blocks: norms, MLP, multi-head attention, the residual block.

Each module takes the fields it uses, by keyword; only the top-level model (lm/models/transformer.py)
reads the model config. Shapes use the letters of lm/models/attention.py: B batch, T query length,
S key length, N heads, H head dim, D model dim, F MLP width.
"""

from typing import Any, Callable

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp

from lm.models import attention
from lm.models.positions import Rope, apply_rotary

Dtype = Any
Init = Callable[..., jax.Array]


def merge_batch_axes(module, x, feature_axes=1):
    """`module(x)` with x's leading axes merged into one token axis, [B, T, ...] -> [B * T, ...] -> back.

    The values are the same; the point is the backward pass. With a single token axis the weight
    gradient is one plain [F_in, BT] x [BT, F_out] matmul. With two, XLA:CPU first copies the
    activation gradient into a transposed layout, and in the shakespeare_char cpu step those copies
    took 18 of 59 ms (the GELU backward fused into a strided loop). The reshapes are free.
    """
    lead = x.shape[: x.ndim - feature_axes]
    y = module(x.reshape((-1,) + x.shape[len(lead) :]))
    return y.reshape(lead + y.shape[1:])


def shard_rows(x: jax.Array) -> jax.Array:
    """Under a device mesh (lm/parallel.py, set while its steps trace), keeps the residual stream [B, T, D] split
    by rows over the batch axes: FSDP then gathers each layer's weights rather than the activations."""
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty or "fsdp" not in mesh.axis_names:
        return x
    return jax.lax.with_sharding_constraint(x, jax.P(("data", "fsdp"), *([None] * (x.ndim - 1))))


class Norm(nn.Module):
    """LayerNorm (with optional bias), RMSNorm (statistics in float32), or none (the identity: no parameters)."""

    kind: str = "layernorm"
    eps: float = 1e-5
    use_bias: bool = True
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        if self.kind == "none":
            return x
        if self.kind == "rmsnorm":
            return nn.RMSNorm(epsilon=self.eps, dtype=self.dtype, name="norm")(x)
        return nn.LayerNorm(epsilon=self.eps, use_bias=self.use_bias, dtype=self.dtype, name="norm")(x)


class Mlp(nn.Module):
    """Position-wise feed-forward: D -> F -> D with GELU / ReLU, or gated (Shazeer, 2020): SwiGLU (Llama),
    GEGLU (T5 v1.1's gated-gelu), act(gate(x)) * up(x)."""

    d_ff: int
    activation: str = "gelu"
    gelu_approximate: bool = True
    use_bias: bool = True
    kernel_init: Init = nn.initializers.normal(0.02)
    out_init: Init = nn.initializers.normal(0.02)
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        D = x.shape[-1]
        dense = lambda features, init, name: nn.Dense(  # noqa: E731
            features, use_bias=self.use_bias, kernel_init=init, dtype=self.dtype, name=name
        )
        h = merge_batch_axes(dense(self.d_ff, self.kernel_init, "up"), x)  # [B, T, F]
        if self.activation in ("swiglu", "geglu"):
            gate = merge_batch_axes(dense(self.d_ff, self.kernel_init, "gate"), x)  # [B, T, F]
            act = nn.silu(gate) if self.activation == "swiglu" else nn.gelu(gate, approximate=self.gelu_approximate)
            h = act * h
        elif self.activation == "relu":
            h = nn.relu(h)
        else:
            h = nn.gelu(h, approximate=self.gelu_approximate)
        return merge_batch_axes(dense(D, self.out_init, "down"), h)  # [B, T, D]


class MultiHeadAttention(nn.Module):
    """Multi-head attention: self-attention (with optional rotary positions), or cross-attention (cross=True:
    queries from x, keys and values from `context`, the encoder's output), each with its own cache.

    Self-attention's cache holds k, v of shape [B, S_max, K, H] (K = num_kv_heads, N without grouped-query
    attention): the new keys and values are written at
    `cache_index` and attention runs over the whole cache (the mask hides the unwritten slots).
    Cross-attention's cache holds cross_k, cross_v [B, S_source, N, H]: computed once, from `context`, by the
    call that gets it (prefill), and read by every later call, which gets no context (decode steps).
    """

    num_heads: int
    head_dim: int
    num_kv_heads: int | None = None  # grouped-query attention: key / value heads (None: num_heads)
    use_bias: bool = True
    qkv_bias: bool | None = None  # on the query / key / value projections (None: use_bias; Qwen2: only these)
    dropout_rate: float = 0.0
    rotary: bool = False
    rope: Rope = Rope()  # with rotary: base, share of dims rotated, scaling
    attention_scale: bool = True  # logits / sqrt(head_dim) (T5: not)
    kernel_init: Init = nn.initializers.normal(0.02)
    out_init: Init = nn.initializers.normal(0.02)
    dtype: Dtype = jnp.float32
    implementation: str = "einsum"  # "einsum" (lm/attention.py) | "xla" | "cudnn" (jax.nn.dot_product_attention)
    cross: bool = False

    @nn.compact
    def __call__(
        self, x, mask, positions=None, cache=None, cache_index=None, deterministic=True, context=None, bias=None
    ):
        """x [B, T, D] -> ([B, T, D], the updated cache or None); `bias` [B, N, T, S] is added to the logits."""
        kv_heads = self.num_kv_heads or self.num_heads
        project = lambda name, heads=kv_heads: nn.DenseGeneral(  # noqa: E731
            (heads, self.head_dim),
            use_bias=self.use_bias if self.qkv_bias is None else self.qkv_bias,
            kernel_init=self.kernel_init,
            dtype=self.dtype,
            name=name,
        )
        q = merge_batch_axes(project("query", self.num_heads), x)  # [B, T, N, H]
        if self.cross:
            if context is not None:  # training, or the prefill of decoding: the encoder's keys and values
                k = merge_batch_axes(project("key"), context)  # [B, S, N, H]
                v = merge_batch_axes(project("value"), context)
                if cache is not None:
                    cache = {
                        **cache,
                        "cross_k": k.astype(cache["cross_k"].dtype),
                        "cross_v": v.astype(cache["cross_v"].dtype),
                    }
            else:  # a decode step: computed once, at prefill
                k, v = cache["cross_k"], cache["cross_v"]
        else:
            k = merge_batch_axes(project("key"), x)  # [B, T, N, H]
            v = merge_batch_axes(project("value"), x)
            if self.rotary:
                q = apply_rotary(q, positions, self.rope)
                k = apply_rotary(k, positions, self.rope)
            if cache is not None:
                index = (0, cache_index, 0, 0)
                k = jax.lax.dynamic_update_slice(cache["k"], k.astype(cache["k"].dtype), index)  # [B, S_max, N, H]
                v = jax.lax.dynamic_update_slice(cache["v"], v.astype(cache["v"].dtype), index)
                cache = {**cache, "k": k, "v": v}
        if kv_heads != self.num_heads:  # each key / value head serves a group of query heads (the cache stays small)
            k, v = (jnp.repeat(t, self.num_heads // kv_heads, axis=2) for t in (k, v))  # [B, S, N, H]
        dropout_rng = None
        if not deterministic and self.dropout_rate > 0.0:
            dropout_rng = self.make_rng("dropout")
        if self.implementation == "einsum":
            out = attention.dot_product_attention(
                q, k, v, mask, dropout_rng, self.dropout_rate, bias=bias, scale=self.attention_scale
            )  # [B, T, N, H]
        else:  # config validation refuses attention dropout here
            out = attention.fused_dot_product_attention(
                q, k, v, mask, self.implementation, bias=bias, scale=self.attention_scale
            )
        out = merge_batch_axes(
            nn.DenseGeneral(
                x.shape[-1],
                axis=(-2, -1),
                use_bias=self.use_bias,
                kernel_init=self.out_init,
                dtype=self.dtype,
                name="out",
            ),
            out,
            feature_axes=2,
        )  # [B, T, D]
        return out, cache


@flax.struct.dataclass
class BlockInputs:
    """What every layer receives besides its input and its cache, passed as one value.

    remat and scan (lm/models/transformer.py) take a block's arguments by position; bundling these keeps
    that list at (x, inputs, cache) whatever a layer needs next (an encoder-decoder's cross-attention adds
    the encoder's output and mask here, not a new position).

    mask: bool, broadcastable to [B, N, T, S]: where attention is allowed.
    positions: [B, T] int positions of the tokens (rotary encodings).
    cache_index: int scalar, the cache slot of the first token (decoding), or None.
    encoded: [B, S, D] the encoder's output, for a block with cross-attention (None in a decode step:
      its keys and values are in the cache).
    encoder_valid: [B, S] bool, False at the source's padding (with `encoded`).
    bias: [B, N, T, S] float added to the self-attention logits (relative positions, computed once per stack), or None.
    deterministic: False enables dropout (static: it changes what is compiled).
    """

    mask: jax.Array | None
    positions: jax.Array
    cache_index: jax.Array | int | None = None
    encoded: jax.Array | None = None
    encoder_valid: jax.Array | None = None
    bias: jax.Array | None = None
    deterministic: bool = flax.struct.field(pytree_node=False, default=True)


class Block(nn.Module):
    """Residual block, pre-norm (GPT-2): x + attn(norm(x)), then x + mlp(norm(x));
    or post-norm (BERT, the original Transformer): norm(x + attn(x)), then norm(x + mlp(x));
    or parallel (GPT-J, GPT-NeoX): x + attn(norm(x)) + mlp(norm'(x)), both branches reading the block's input.
    mlp="none" leaves the MLP sub-layer out (an attention-only block, Elhage et al., 2021)."""

    num_heads: int
    d_ff: int
    num_kv_heads: int | None = None
    head_dim: int | None = None  # None: d_model // num_heads
    attention_scale: bool = True  # logits / sqrt(head_dim) (T5: not)
    mlp: str = "gelu"
    gelu_approximate: bool = True
    norm: str = "layernorm"
    norm_eps: float = 1e-5
    use_bias: bool = True
    qkv_bias: bool | None = None
    dropout: float = 0.0
    attention_dropout: float = 0.0
    rotary: bool = False
    rope: Rope = Rope()
    init_std: float = 0.02
    out_std: float = 0.02
    post_norm: bool = False
    parallel_residual: bool = False  # pre-norm only; no cross-attention
    dtype: Dtype = jnp.float32
    attention: str = "einsum"
    cross_attention: bool = False  # a decoder block of an encoder-decoder: attends to `inputs.encoded` too

    @nn.compact
    def __call__(self, x, inputs: BlockInputs, cache=None):
        """x [B, T, D] -> ([B, T, D], the layer's updated cache or None)."""
        x = shard_rows(x)
        D = x.shape[-1]
        norm = lambda name: Norm(  # noqa: E731
            kind=self.norm, eps=self.norm_eps, use_bias=self.use_bias, dtype=self.dtype, name=name
        )
        init, out_init = nn.initializers.normal(self.init_std), nn.initializers.normal(self.out_std)
        heads = dict(
            num_heads=self.num_heads,
            head_dim=self.head_dim or D // self.num_heads,
            num_kv_heads=self.num_kv_heads,
            use_bias=self.use_bias,
            qkv_bias=self.qkv_bias,
            dropout_rate=self.attention_dropout,
            attention_scale=self.attention_scale,
            kernel_init=init,
            out_init=out_init,
            dtype=self.dtype,
            implementation=self.attention,
        )
        attend = MultiHeadAttention(
            **heads,
            rotary=self.rotary,
            rope=self.rope,
            name="attention",
        )
        mlp = Mlp(
            d_ff=self.d_ff,
            activation=self.mlp,
            gelu_approximate=self.gelu_approximate,
            use_bias=self.use_bias,
            kernel_init=init,
            out_init=out_init,
            dtype=self.dtype,
            name="mlp",
        )
        deterministic = inputs.deterministic
        drop = lambda h: nn.Dropout(self.dropout)(h, deterministic)  # noqa: E731
        attention_args = dict(
            mask=inputs.mask,
            positions=inputs.positions,
            cache=cache,
            cache_index=inputs.cache_index,
            deterministic=deterministic,
            bias=inputs.bias,
        )
        cross = MultiHeadAttention(**heads, cross=True, name="cross_attention") if self.cross_attention else None

        def attend_to_encoder(h, cache):
            """The encoder's output, its padding hidden: (output, cache with the cross keys / values)."""
            if inputs.encoded is not None:
                valid = inputs.encoder_valid
                if cache is not None:
                    cache = {**cache, "cross_valid": valid}
            else:
                valid = cache["cross_valid"]
            mask = valid[:, None, None, :]  # [B, 1, 1, S]: every query sees every real source position
            return cross(h, mask, cache=cache, deterministic=deterministic, context=inputs.encoded)

        if self.post_norm:
            h, cache = attend(x, **attention_args)
            x = norm("attention_norm")(x + drop(h))
            if cross is not None:
                h, cache = attend_to_encoder(x, cache)
                x = norm("cross_attention_norm")(x + drop(h))
            return (x if self.mlp == "none" else norm("mlp_norm")(x + drop(mlp(x)))), cache
        h, cache = attend(norm("attention_norm")(x), **attention_args)
        if self.parallel_residual:  # both branches read x (GPT-NeoX's use_parallel_residual)
            return x + drop(h) + (0.0 if self.mlp == "none" else drop(mlp(norm("mlp_norm")(x)))), cache
        x = x + drop(h)
        if cross is not None:
            h, cache = attend_to_encoder(norm("cross_attention_norm")(x), cache)
            x = x + drop(h)
        return (x if self.mlp == "none" else x + drop(mlp(norm("mlp_norm")(x)))), cache
