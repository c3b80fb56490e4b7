"""Sweeps: an experiment's variants (config overrides x seeds), each trained in its own sub-workdir.

An experiment file may define `get_sweep(arg)`, returning a list of variants, each a dict of config overrides
({"model.position": "rotary", "seed": 1}); `grid` (lm/experiment.py) builds the product of some axes and seeds:

    def get_sweep(arg):
        return grid({"model.position": ["learned", "sinusoidal", "rotary"]}, seeds=[0, 1, 2])

`--mode=sweep` trains every variant in WORKDIR/<name>/, the name being its overrides in order
(`model.position=rotary,seed=1`); `--sweep_index=i` (or SLURM_ARRAY_TASK_ID) trains the i-th only, so
that a cluster's array job runs them side by side. A variant whose run already reached its last step is
skipped; one that stopped part-way resumes from its checkpoint; one that fails is recorded (its error in
its own sweep.json) and the others still run.
"""

import json
import os
import time
import traceback

import jax
import ml_collections
import numpy as np

from lm import checkpoint, console, jsonfile, metrics, workdir_files
from lm.experiment import Variant
from lm.models import families
from lm.models.config import ModelConfig

STATUS_FILE = "sweep.json"  # in each variant's workdir: what the sweep knows of it


def expand(variants: list[dict]) -> list[Variant]:
    """The experiment's variants, checked: dicts of overrides, each name once."""
    if not isinstance(variants, (list, tuple)) or not variants:
        raise ValueError(
            f"get_sweep returned {type(variants).__name__} {variants!r:.80}; it must return a non-empty list of "
            "dicts of config overrides (lm.experiment.grid builds one)."
        )
    out = []
    for i, overrides in enumerate(variants):
        if not isinstance(overrides, dict):
            raise ValueError(f"get_sweep's variant {i} is {overrides!r:.80}, not a dict of config overrides.")
        out.append(Variant(i, dict(overrides)))
    names = [v.name for v in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"get_sweep gives the variant(s) {twice} more than once; each needs its own overrides.")
    return out


def select(variants: list[Variant], index: int | None, environ=os.environ) -> list[Variant]:
    """All variants, or the one of --sweep_index (else SLURM_ARRAY_TASK_ID, when set)."""
    if index is None and environ.get("SLURM_ARRAY_TASK_ID", "").strip():
        index = int(environ["SLURM_ARRAY_TASK_ID"])
    if index is None:
        return variants
    if not 0 <= index < len(variants):
        raise ValueError(
            f"--sweep_index={index} is out of range: this sweep has {len(variants)} variants (0 to "
            f"{len(variants) - 1}). A SLURM array for it is --array=0-{len(variants) - 1}."
        )
    return [variants[index]]


def apply(config: ml_collections.ConfigDict, overrides: dict) -> ml_collections.ConfigDict:
    """A copy of `config` with the dotted-key overrides set (types checked as on the command line)."""
    config = config.copy_and_resolve_references()
    for key, value in overrides.items():
        *path, last = key.split(".")
        node = config
        for part in path:
            if part not in node or not isinstance(node[part], ml_collections.ConfigDict):
                raise ValueError(f"The sweep's override {key}={value!r} names no config field ({part!r}).")
            node = node[part]
        if last not in node:
            raise ValueError(f"The sweep's override {key}={value!r} names no config field: lm/config.py lists them.")
        try:
            node[last] = value
        except TypeError as e:
            raise ValueError(f"The sweep's override {key}={value!r} has the wrong type ({e}).") from e
    return config


def check_overrides(config: ml_collections.ConfigDict, variants: list[Variant]) -> None:
    """Every variant's overrides name config fields with values of their types (before any variant runs: a
    misspelt key is the sweep's error, not one variant's)."""
    for variant in variants:
        try:
            apply(config, variant.overrides)
        except ValueError as e:
            raise ValueError(f"get_sweep's variant {variant.index}: {e} Fix the experiment's get_sweep.") from e


def finished(config: ml_collections.ConfigDict, workdir: str) -> bool:
    """Whether `workdir` holds the run's last checkpoint and its eval at that step."""
    if not os.path.isdir(os.path.join(workdir, "checkpoints")):
        return False
    last = config.train.num_steps
    if checkpoint.Checkpointer(workdir, read_only=True).latest_step() != last:
        return False
    return any(r["step"] == last and any(k.startswith("eval/") for k in r) for r in metrics.read(workdir))


def run(config: ml_collections.ConfigDict, workdir: str, variants: list[Variant], train_fn) -> list[dict]:
    """Trains each variant in WORKDIR/<name> with `train_fn(config, workdir)`; returns their statuses.

    A variant already finished is skipped; an exception (bad overrides, divergence, a bug) is recorded in the
    variant's sweep.json and the next variant runs.
    """
    statuses = []
    for variant in variants:
        sub = os.path.join(workdir, variant.name)
        status = {"index": variant.index, "name": variant.name, "overrides": variant.overrides}
        try:
            variant_config = apply(config, variant.overrides)
        except ValueError as e:
            statuses.append(_record(sub, {**status, "status": "failed", "error": str(e)}))
            console.log(f"sweep: {variant.name}: failed: {e}")
            continue
        if finished(variant_config, sub):
            console.log(f"sweep: {variant.name}: finished before, skipped")
            statuses.append(_record(sub, {**_read_status(sub), **status, "status": "done"}))
            continue
        console.log(f"sweep: variant {variant.index + 1} of {len(variants)}: {variant.name}")
        start = checkpoint.Checkpointer(sub, read_only=True).latest_step() if os.path.isdir(sub) else None
        began = time.perf_counter()
        try:
            train_fn(variant_config, sub)
        except Exception as e:  # noqa: BLE001 -- any failure of one variant is recorded, the others run
            error = f"{type(e).__name__}: {e}"
            console.log(f"sweep: {variant.name}: failed: {error}")
            statuses.append(_record(sub, {**status, "status": "failed", "error": error,
                                          "traceback": traceback.format_exc(limit=-6)}))  # fmt: skip
            continue
        seconds = time.perf_counter() - began
        steps = variant_config.train.num_steps - (start or 0)
        statuses.append(_record(sub, {**status, "status": "done", **_facts(sub), "wall_seconds": seconds,
                                      "steps_per_second": steps / seconds if steps else None}))  # fmt: skip
    return statuses


def summary(statuses: list[dict]) -> str:
    done = [s for s in statuses if s["status"] == "done"]
    lines = [f"sweep: {len(done)} of {len(statuses)} variants done"]
    lines += [f"  FAILED {s['name']}: {s['error']}" for s in statuses if s["status"] == "failed"]
    return "\n".join(lines)


def read_statuses(workdir: str) -> list[dict]:
    """The sweep.json of every variant under `workdir`, in the sweep's order."""
    if not os.path.isdir(workdir):
        raise ValueError(f"--workdir={workdir} does not exist: run the sweep first (--mode=sweep).")
    found = [_read_status(os.path.join(workdir, d)) for d in sorted(os.listdir(workdir))]
    found = [s for s in found if s]
    if not found:
        raise ValueError(f"--workdir={workdir} holds no variant of a sweep (no */{STATUS_FILE}): run --mode=sweep.")
    return sorted(found, key=lambda s: s["index"])


def _facts(workdir: str) -> dict:
    """Parameters and tokens seen, from the variant's config.json."""
    saved = workdir_files.read_config(workdir)
    if saved is None:  # a train_fn that writes no config.json (tests' fakes)
        return {}
    model = families.build(ModelConfig.from_config(ml_collections.ConfigDict(saved["model"])))
    shapes = jax.eval_shape(lambda key: families.init_params(model, key), jax.random.PRNGKey(0))
    params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes))
    tokens = saved["train"]["num_steps"] * saved["data"]["batch_size"] * saved["data"]["seq_len"]
    return {"parameters": params, "tokens_seen": tokens}


def _record(workdir: str, status: dict) -> dict:
    os.makedirs(workdir, exist_ok=True)
    workdir_files.write_atomically(os.path.join(workdir, STATUS_FILE), json.dumps(status, indent=1, default=str))
    return status


def _read_status(workdir: str) -> dict:
    path = os.path.join(workdir, STATUS_FILE)
    if not os.path.isfile(path):
        return {}
    fix = "It records a variant of a sweep: delete it, and --mode=sweep runs the variant again."
    status = jsonfile.read(path, fix)
    for key, kind in (("index", int), ("name", str)):
        if not isinstance(status.get(key), kind):
            raise ValueError(f"{path} has no {key} (a {kind.__name__}): it is damaged. {fix}")
    return status
