"""Parameter layouts: per-layer or scanned blocks, moving pretrained weights into a new model, counting.

Imports (lm/convert/), exports and transplants (init_from) go through `set_layer_layout`, so pretrained
weights and workdirs fit either layout of the same model.
"""

import re

import jax
import jax.numpy as jnp
from flax import traverse_util

from lm.models.transformer import HEAD_MODULES

STACKS = ("block", "encoder_block")  # per layer: {stack}_0, {stack}_1, ...; scanned: {stack}s


def set_layer_layout(params: dict, scan: bool) -> dict:
    """`params` with each stack of blocks laid out per layer (block_0, block_1, ...) or scanned (one
    "blocks" tree with a leading layer axis, model.scan_layers); the encoder-decoder's encoder stack is
    encoder_block_i / encoder_blocks. Imports, exports and transplants go through this, so pretrained
    weights and workdirs fit either layout."""
    original, params = params, dict(params)
    for stack in STACKS:
        per_layer = sorted((k for k in params if re.fullmatch(rf"{stack}_\d+", k)), key=lambda k: int(k.split("_")[-1]))
        if scan and per_layer:
            params[f"{stack}s"] = jax.tree.map(lambda *xs: jnp.stack(xs), *[params.pop(k) for k in per_layer])
        elif not scan and f"{stack}s" in params:
            stacked = params.pop(f"{stack}s")
            for i in range(jax.tree.leaves(stacked)[0].shape[0]):
                params[f"{stack}_{i}"] = jax.tree.map(lambda x, i=i: x[i], stacked)
    return params if params.keys() != original.keys() else original


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
