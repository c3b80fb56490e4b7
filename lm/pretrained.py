"""What `init_from` names: a pretraining workdir of ours, a Hugging Face model directory, or a model of the
Hugging Face Hub by its name (`org/name`, `org/name@revision`), fetched into the Hub's cache (HF_HUB_CACHE /
HF_HOME honoured; HF_HUB_OFFLINE=1 reads the cache only).

Each brings an architecture (the model fields of lm/models/config.py's ARCHITECTURE), a tokenizer and
weights; the weights are read only when a run needs them (a resumed run has its own).
"""

import dataclasses
import os
import re
from typing import Callable

import ml_collections

from lm import checkpoint, convert, objectives, workdir_files
from lm.data import hf_tokenizer, tokenizers
from lm.models.config import ARCHITECTURE, ModelConfig, complete


@dataclasses.dataclass
class Pretrained:
    path: str
    model: dict  # the architecture fields (ARCHITECTURE) and size
    tokenizer: tokenizers.Tokenizer
    load_params: Callable[[], dict]  # read on demand: a resumed run never needs them


HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?")  # org/name[@revision]
HUB_FILES = ["config.json", "*.safetensors", "*.safetensors.index.json", "tokenizer*", "vocab*", "merges.txt",
             "special_tokens_map.json", "generation_config.json", "*.model"]  # fmt: skip


def load(path: str) -> Pretrained:
    """The architecture, tokenizer and (lazily) weights of a workdir, a Hugging Face directory or a Hub name."""
    path = from_hub(path)
    if convert.is_hf_directory(path):
        fields, params = convert.read_model(path)
        tokenizer = hf_tokenizer.HFTokenizer.from_directory(path)
        defaults = {f.name: f.default for f in dataclasses.fields(ModelConfig) if f.name in ARCHITECTURE}
        model = {**defaults, **fields, "size": "custom"}
        if tokenizer.vocab_size > model["vocab_size"]:
            raise ValueError(
                f"The tokenizer in {path} has {tokenizer.vocab_size} tokens but the model's embedding only "
                f"{model['vocab_size']}: the tokenizer files belong to another model."
            )
        return Pretrained(path, model, tokenizer, lambda: params)
    saved = workdir_files.read_config(path)
    if saved is None:
        raise ValueError(
            f"--config.init_from={path!r} is neither a workdir (no config.json from launch.py --mode=train) nor a "
            "Hugging Face model directory (config.json with a model_type, model.safetensors and the tokenizer's "
            "files). Point it at one of these."
        )
    tokenizer = tokenizers.load(path)
    checkpointer = checkpoint.Checkpointer(path, read_only=True)
    if tokenizer is None or checkpointer.latest_step() is None:
        missing = "its tokenizer (lm_tokenizer.json)" if tokenizer is None else "a checkpoint (checkpoints/)"
        raise ValueError(
            f"--config.init_from={path} has a run's config.json but not {missing}: it is not a workdir that "
            "finished a training step. Point it at a trained workdir (or train this one first)."
        )
    params = checkpointer.restore_params
    return Pretrained(path, complete(saved["model"]), tokenizer, params)


def from_hub(path: str) -> str:
    """`path` itself (user expanded) when it exists or is no Hub name; else the local snapshot of the Hub's
    model `org/name[@revision]`: its config, weights and tokenizer files (no PyTorch pickles).

    Raises:
      ValueError: the model cannot be fetched (offline and not cached, no such name, a gated model), in seconds.
    """
    local = os.path.expanduser(path)
    if os.path.exists(local) or not HUB_NAME.fullmatch(path):
        return local
    import huggingface_hub

    repo, _, revision = path.partition("@")
    try:
        return huggingface_hub.snapshot_download(repo, revision=revision or None, allow_patterns=HUB_FILES)
    except Exception as e:  # noqa: BLE001 -- offline, not found, gated, no network: each a reason to name
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(
            f"--config.init_from={path!r} is no local directory, and the Hugging Face Hub's model {repo!r} "
            f"(revision {revision or 'main'}) could not be fetched: {type(e).__name__}: {reason[:200]}. Check the "
            f"name; on a machine without network, fetch it elsewhere (`hf download {repo} --local-dir DIR`) and "
            "point init_from at DIR, or run with HF_HUB_OFFLINE=1 once it is in the Hub's cache."
        ) from e


def adopt_architecture(
    config: ml_collections.ConfigDict, pretrained: Pretrained, objective: objectives.Objective
) -> ml_collections.ConfigDict:
    """config with the pretrained model's architecture and tokenizer kind.

    Raises:
      ValueError: the objective needs the other attention direction (a causal LM from an encoder,
        or a masked LM from a decoder).
    """
    causal = pretrained.model["causal"]
    kind = "causal" if causal else "bidirectional"
    if objective.attention not in (kind, "any"):
        fits = [name for name, o in objectives.OBJECTIVES.items() if o.attention in (kind, "any")]
        raise ValueError(
            f"--config.init_from={pretrained.path} is a {kind} model ({'a decoder' if causal else 'an encoder'}), "
            f"which objective={objective.name!r} cannot train. Use objective= one of {', '.join(fits)}."
        )
    config = config.copy_and_resolve_references()
    for field in ARCHITECTURE:
        config.model[field] = pretrained.model[field]
    config.model.size = pretrained.model["size"]
    config.data.tokenizer = pretrained.tokenizer.kind
    return config
