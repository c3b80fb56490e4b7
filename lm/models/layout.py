"""Parameter layouts: per-layer or scanned blocks, moving pretrained weights into a new model, counting.

Imports (lm/convert/), exports and transplants (init_from) go through `set_layer_layout`, so pretrained
weights and workdirs fit either layout of the same model.
"""

import jax
import jax.numpy as jnp
from flax import traverse_util

from lm.models.transformer import HEAD_MODULES


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
