"""The optimizer: AdamW with linear warmup, cosine decay to a floor, and global-norm clipping."""

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import traverse_util

from lm.models.transformer import HEAD_MODULES


def schedule(optim: ml_collections.ConfigDict) -> optax.Schedule:
    """Linear warmup to learning_rate, then cosine decay to min_learning_rate at decay_steps, then flat.

    The warmup is nanoGPT's: lr * (s + 1) / (warmup_steps + 1), so step 0 already moves the weights.
    """
    peak, floor = optim.learning_rate, optim.min_learning_rate
    warmup, decay = optim.warmup_steps, max(optim.decay_steps - optim.warmup_steps, 1)

    def learning_rate(step):
        step = jnp.asarray(step, jnp.float32)
        ramp = peak * (step + 1) / (warmup + 1)
        progress = jnp.clip((step - warmup) / decay, 0.0, 1.0)
        cosine = floor + 0.5 * (1.0 + jnp.cos(jnp.pi * progress)) * (peak - floor)
        return jnp.where(step < warmup, ramp, cosine)

    return learning_rate


def decay_mask(params, decay_embeddings: bool):
    """True for the weights that take weight decay: matrices (not biases or norm scales), and the
    embedding tables only when decay_embeddings (GPT-2 practice excludes them; nanoGPT includes them)."""
    flat = traverse_util.flatten_dict(params)
    mask = {}
    for path, leaf in flat.items():
        is_embedding = path[-1] == "embedding"
        mask[path] = leaf.ndim >= 2 and (decay_embeddings or not is_embedding)
    return traverse_util.unflatten_dict(mask)


def make(optim: ml_collections.ConfigDict, encoder_lr_scale: float = 1.0) -> optax.GradientTransformation:
    """The full update: clip, then AdamW with the schedule and the decay mask.

    encoder_lr_scale scales the updates of everything but the fine-tuning heads (a smaller encoder
    learning rate; 0 freezes the encoder).
    """
    adamw = optax.adamw(
        schedule(optim),
        b1=optim.b1,
        b2=optim.b2,
        eps=optim.eps,
        weight_decay=optim.weight_decay,
        mask=lambda params: decay_mask(params, optim.decay_embeddings),
    )
    parts = [optax.clip_by_global_norm(optim.grad_clip)] if optim.grad_clip > 0 else []
    parts.append(adamw)
    if encoder_lr_scale != 1.0:
        parts.append(optax.masked(optax.scale(encoder_lr_scale), _encoder_mask))
    return optax.chain(*parts)


def _encoder_mask(params):
    """True for every parameter outside the fine-tuning heads."""
    return {
        key: jax.tree.map(lambda _, encoder=key not in HEAD_MODULES: encoder, value) for key, value in params.items()
    }


def num_decayed(params, decay_embeddings: bool) -> int:
    """How many parameters take weight decay (printed at start, so the choice is visible)."""
    mask = decay_mask(params, decay_embeddings)
    return sum(p.size for p, m in zip(jax.tree.leaves(params), jax.tree.leaves(mask), strict=True) if m)
