"""What a knob can change, each observed through the functions the launcher itself runs.

Every observation builds the run with `lm.run.prepare` (as --mode=train does) and reads one of: the train
step's output on fixed batches (`compile_train_step`, run eagerly: one program per knob would take minutes
to compile), the optimizer's updates (the state's own `tx`), the compiled program (for knobs of how a step
runs, whose output must not change), the placement of the state on the devices, a whole training run
(`train.train`: records, files, checkpoints, printed output), an evaluation or samples of a trained
workdir (lm/modes: `evaluate`, `sample`), or the error a run stops with. Each returns a fingerprint,
nested dicts / lists of arrays and strings, that `differ` compares bit for bit.
"""

import contextlib
import io
import os
import tempfile

import jax
import ml_collections
import numpy as np
import pytest

from lm import metrics, train
from lm.data import prepare as data_prepare
from lm.modes import evaluate, sample
from lm.run import compile_train_step, make_evaluators, prepare


def with_value(config: ml_collections.ConfigDict, field: str, value) -> ml_collections.ConfigDict:
    """A copy of `config` with the dotted `field` set to `value` (as --config.FIELD=VALUE does)."""
    c = config.copy_and_resolve_references()
    *path, name = field.split(".")
    section = c
    for key in path:
        section = section[key]
    with section.unlocked():
        section[name] = value
    return c


def leaves(tree) -> list:
    return [np.asarray(x) for x in jax.tree.leaves(jax.device_get(tree))]


def shapes(config: ml_collections.ConfigDict) -> dict:
    """What a run is made of before any weight is drawn: the parameters' shapes, the batches of the first
    two steps and the first eval batch (prepare without allocating, as --mode=bench --bench_steps=0)."""
    run = prepare(config, None, restore="never", abstract=True)
    c = run.config
    return {
        "params": str(run.state.params),
        "batches": [run.data.train_batch(s, c.seed, c.data.batch_size, c.data.seq_len) for s in range(2)],
        "eval batch": next(iter(run.data.eval_batches(c.train.eval_batch_size, c.data.seq_len))),
    }


def step(config: ml_collections.ConfigDict, steps: int = 2) -> dict:
    """The initial parameters, the batches, and the metrics and parameters after each of `steps` train steps
    (compile_train_step's function, eagerly), and the first eval batch."""
    with jax.disable_jit():
        run = prepare(config, None, restore="never")
        c = run.config
        train_step = compile_train_step(run)
        state = run.runner.put_state(run.state)
        out = {"init": leaves(run.state.params), "tree": str(jax.tree.structure(run.state.params))}
        for s in range(steps):
            batch = run.data.train_batch(s, c.seed, c.data.batch_size, c.data.seq_len)
            state, step_metrics = train_step(state, run.runner.put_batch(batch))
            out[f"batch {s}"] = batch
            out[f"metrics {s}"] = {k: np.asarray(v) for k, v in jax.device_get(step_metrics).items()}
        out["params"] = leaves(state.params)
        out["eval batch"] = next(iter(run.data.eval_batches(c.train.eval_batch_size, c.data.seq_len)))
    return out


def updates(config: ml_collections.ConfigDict, steps: int = 6) -> list:
    """The optimizer's updates (the run state's `tx`, as prepare built it) over `steps` steps of fixed
    gradients whose scale changes from step to step (so that clipping and Adam's moments show)."""
    with jax.disable_jit():
        run = prepare(config, None, restore="never")
        params, opt_state = run.state.params, run.state.opt_state
        keys = iter(jax.random.split(jax.random.PRNGKey(1), len(jax.tree.leaves(params))))
        gradient = jax.tree.map(lambda p: jax.random.normal(next(keys), p.shape), params)
        out = []
        for s in range(steps):
            grads = jax.tree.map(lambda g, s=s: g * 10.0 ** (s % 3 - 1), gradient)
            u, opt_state = run.state.tx.update(grads, opt_state, params)
            params = jax.tree.map(lambda p, d: p + d, params, u)
            out.append(leaves(u))
    return out


def program(config: ml_collections.ConfigDict) -> dict:
    """The train step as XLA receives it (lowered, not compiled) and the state's layout."""
    run = prepare(config, None, restore="never", abstract=True)
    c = run.config
    batch = run.data.train_batch(0, c.seed, c.data.batch_size, c.data.seq_len)
    lowered = compile_train_step(run).lower(run.runner.abstract_state(run.state), run.runner.put_batch(batch))
    return {"program": lowered.as_text(), "tree": str(jax.tree.structure(run.state.params))}


def placement(config: ml_collections.ConfigDict) -> dict:
    """How the run spreads over the devices: the runner and each parameter's sharding."""
    run = prepare(config, None, restore="never", abstract=True)
    state = run.runner.abstract_state(run.state)
    return {"runner": run.runner.describe(), "shardings": [str(x.sharding) for x in jax.tree.leaves(state.params)]}


def training(config: ml_collections.ConfigDict) -> dict:
    """A whole training run in a fresh workdir: metrics.jsonl, the files (but the event files), the
    checkpoints kept, what it printed, or the error it stopped with."""
    with tempfile.TemporaryDirectory() as workdir:
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                train.train(config, workdir)
            error = None
        except Exception as e:  # noqa: BLE001 (the error is the observation: train.nonfinite=stop)
            error = f"{type(e).__name__}: {e}".replace(workdir, "WORKDIR")
        records = metrics.read(workdir)  # train/ and eval/ metrics only: no timings
        files = sorted(
            os.path.relpath(os.path.join(d, f), workdir)
            for d, _, fs in os.walk(workdir)
            for f in fs
            if "tfevents" not in f and "checkpoints" not in d
        )
        checkpoints = os.path.join(workdir, "checkpoints")
        kept = sorted(int(d) for d in os.listdir(checkpoints) if d.isdigit()) if os.path.isdir(checkpoints) else []
        lines = [line for line in printed.getvalue().replace(workdir, "WORKDIR").splitlines() if "/s" not in line]
    return {"records": records, "files": files, "checkpoints": list(kept), "printed": lines, "error": error}


def wandb(config: ml_collections.ConfigDict) -> dict:
    """A whole training run's Weights & Biases sessions (read back from an offline run's files: project, entity,
    name, config and history), or the error it stopped with (online without an API key)."""
    from tests import wandb_file

    with tempfile.TemporaryDirectory() as workdir, _without_wandb_key(workdir):
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                train.train(config, workdir)
        except ValueError as e:
            return {"error": str(e)}
        runs = wandb_file.runs(workdir)
    # the run id is drawn per workdir; the config's log.* fields are the knobs' own values, not their effect
    for run in runs:
        del run["id"]
        run["config"] = {k: v for k, v in run["config"].items() if not k.startswith("log.")}
    return {"runs": runs}


@contextlib.contextmanager
def _without_wandb_key(directory: str):
    """No W&B API key to be found (environment, `wandb login`'s settings, netrc): online logging is refused."""
    names = ("WANDB_API_KEY", "WANDB_CONFIG_DIR", "NETRC")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.pop("WANDB_API_KEY", None)
    os.environ["WANDB_CONFIG_DIR"], os.environ["NETRC"] = directory, os.path.join(directory, "netrc")
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def evaluation(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """--mode=eval of a trained workdir (a copy: eval writes the data cache)."""
    with contextlib.redirect_stdout(io.StringIO()):
        return evaluate.evaluate(config, workdir)


def samples(config: ml_collections.ConfigDict, workdir: str) -> list[str]:
    """--mode=sample of a trained workdir."""
    with contextlib.redirect_stdout(io.StringIO()):
        return sample.sample(config, workdir)


def decoded(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """The decoded-text evaluators (exact match, BLEU, ...) of a trained workdir: their metrics and the texts."""
    run = prepare(config, workdir, restore="required")
    state = run.runner.put_state(run.state)
    scores = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for evaluator in make_evaluators(run):
            scores |= evaluator.run(state)
    return {"scores": scores, "texts": evaluator.decoder.texts(state)}


def prepared(config: ml_collections.ConfigDict) -> dict:
    """The token shards --mode=prepare makes of config.data (lm/data/prepare.py): manifest and shards' bytes."""
    if config.data.hf_dataset:
        pytest.importorskip("datasets")  # requirements-eval.txt
    with tempfile.TemporaryDirectory() as directory, contextlib.redirect_stdout(io.StringIO()):
        manifest = data_prepare.prepare(config.data, directory, None, num_workers=1)
        files = {name: open(os.path.join(directory, name), "rb").read() for name in sorted(os.listdir(directory))}
    return {"manifest": {k: v for k, v in manifest.items() if k != "source"}, "files": files}


def error(config: ml_collections.ConfigDict) -> str | None:
    """The message a run's preparation stops with (None: it prepares)."""
    try:
        prepare(config, None, restore="never", abstract=True)
    except ValueError as e:
        return str(e)
    return None


def differ(a, b) -> bool:
    """Whether two fingerprints differ anywhere (structure, shape, dtype or any bit)."""
    if isinstance(a, dict) or isinstance(b, dict):
        return (
            not (isinstance(a, dict) and isinstance(b, dict))
            or a.keys() != b.keys()
            or any(differ(a[k], b[k]) for k in a)
        )
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return type(a) is not type(b) or len(a) != len(b) or any(differ(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape != b.shape or a.dtype != b.dtype or not np.array_equal(a, b, equal_nan=True)
    return a != b


def close(a, b, rtol: float) -> bool:
    """Whether two fingerprints of the same structure hold the same numbers within `rtol` (float32
    rounding of another order of operations)."""
    flat_a, flat_b = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(flat_a) == len(flat_b) and all(
        np.allclose(np.asarray(x, np.float64), np.asarray(y, np.float64), rtol=rtol, atol=rtol)
        for x, y in zip(flat_a, flat_b, strict=True)
    )


def assert_acts(field: str, knob, turn) -> None:
    """The knob (tests/knobs/registry.py) changes what it is seen in: for a knob of how a step runs, the
    compiled program but not the step's result."""
    before, after = turn(field, knob)
    if knob.seen_in == "how":  # another program for the same step
        assert differ(before["program"], after["program"]), f"{field} left the compiled step as it was"
        metrics = lambda seen: {k: v for k, v in seen["step"].items() if k.startswith("metrics")}  # noqa: E731
        assert close(metrics(before), metrics(after), rtol=2e-5), f"{field} changed the step's result"
    else:
        assert differ(before, after), f"{field}={knob.value!r} changed nothing {knob.seen_in} shows"
