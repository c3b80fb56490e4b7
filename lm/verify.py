"""Reproduction contracts: what an experiment reproduces, checked by a command that fails when the code regresses.

An experiment file declares its contracts (lm.experiment.Contract) next to the config they describe, one per
config argument:

    CONTRACTS = {
        "cpu": Contract(metric="eval/loss", target=1.92, bound="at_most", step=2000,
                        source="nanoGPT README, shakespeare_char on CPU", hardware="2 CPU cores",
                        time="1 min 38 s", measured=1.9056),
    }

`--mode=verify` trains the experiment (or resumes it, or reads a workdir that already reached the step),
then prints PASS or FAIL with the measured value, the target, the bound and the source, and exits non-zero
on FAIL. An argument may have several contracts (a list); all must hold.

A contract may be about a variant (`overrides`), hold on every seed of several (`seeds`), and compare with a
baseline seed by seed (`baseline`: the value is the run's minus the baseline's), e.g. pretrained beats
scratch on every seed:

    Contract(metric="eval/accuracy", target=0.02, bound="at_least", overrides={"finetune.load_weights": True},
             baseline={"finetune.load_weights": False}, seeds=(0, 1, 2))

Each such run trains in WORKDIR/<overrides,seed=N>, named as a sweep's variants (so `--mode=collate` reads
them), and verify prints every seed's values before the verdict, which is about the worst seed. `beside`
names metrics printed next to the verdict (nanoGPT's 20-batch loss estimate beside the whole-split loss).
docs/experiments.md's table of contracts is `table()` of the experiment files (a test checks that it is).
"""

import glob
import os

import ml_collections

from lm import console, experiment, metrics, sweep
from lm.experiment import Contract, Variant, variant_name


def value_at(workdir: str, metric: str, step: int) -> float | None:
    """The metric logged at `step` (the last such record), or None."""
    found = [r[metric] for r in metrics.read(workdir) if r["step"] == step and metric in r]
    return found[-1] if found else None


def verify(config: ml_collections.ConfigDict, workdir: str, contract: Contract, train_fn) -> bool:
    """Trains (or resumes) until the contract's step is logged, then prints PASS / FAIL; returns whether it holds.

    A contract with variants (overrides, seeds, a baseline) trains each missing one to its last step in its
    sub-workdir, as `--mode=sweep` does, and prints every seed's value before the verdict.
    """
    step = contract.step if contract.step is not None else config.train.num_steps
    if step > config.train.num_steps:
        raise ValueError(
            f"The contract is about step {step} but the run ends at train.num_steps={config.train.num_steps}: "
            "raise num_steps or fix the contract."
        )
    if not contract.variants:
        if value_at(workdir, contract.metric, step) is None:
            train_fn(config, workdir)
        value = _logged(workdir, contract.metric, step)
        beside = _beside(workdir, contract, step)
        return _verdict(contract, value, "", beside)
    seeds = contract.seeds or (config.seed,)
    runs = [{**contract.overrides, "seed": seed} for seed in seeds]
    bases = []  # the baseline's runs, seed by seed
    if contract.baseline is not None:
        bases = [{**contract.overrides, **contract.baseline, "seed": seed} for seed in seeds]
    missing = [
        Variant(i, run) for i, run in enumerate(runs + bases)
        if value_at(os.path.join(workdir, variant_name(run)), contract.metric, step) is None
    ]  # fmt: skip
    failed = [s for s in sweep.run(config, workdir, missing, train_fn) if s["status"] == "failed"]
    if failed:
        console.log("\n".join(f"{s['name']}: failed: {s['error']}" for s in failed))
    values = []
    for i, run in enumerate(runs):
        sub = os.path.join(workdir, variant_name(run))
        value = _logged(sub, contract.metric, step)
        line = f"  {variant_name(run)}: {contract.metric} {value:.4f}"
        if bases:
            base = os.path.join(workdir, variant_name(bases[i]))
            value -= _logged(base, contract.metric, step)
            baseline = f"{variant_name(contract.baseline)} {value_at(base, contract.metric, step):.4f}"
            line += f", {baseline}, difference {value:+.4f}"
        console.log(line + _beside(sub, contract, step) + ("" if contract.holds(value) else "  <- fails"))
        values.append(value)
    return _verdict(contract, contract.worst(values), f"worst of {len(values)} seeds: " if len(values) > 1 else "", "")


def _logged(workdir: str, metric: str, step: int) -> float:
    value = value_at(workdir, metric, step)
    if value is None and metric.startswith("harness/"):
        task = metric.split("/")[1]
        raise ValueError(
            f"{workdir}/metrics.jsonl has no {metric} at step {step}: --mode=harness --tasks={task} adds it (run it "
            "on the workdir, then verify again)."
        )
    if value is None:
        raise ValueError(
            f"{workdir}/metrics.jsonl has no {metric} at step {step}: the metric must be one the run logs "
            "there (evaluations happen every train.eval_every steps and at the last)."
        )
    return value


def _beside(workdir: str, contract: Contract, step: int) -> str:
    found = [(m, value_at(workdir, m, step)) for m in contract.beside]
    return "".join(f"; {m} = {v:.4f}" for m, v in found if v is not None)


def _verdict(contract: Contract, value: float, prefix: str, beside: str) -> bool:
    passed = contract.holds(value)
    console.log(
        f"{'PASS' if passed else 'FAIL'}: {prefix}{contract.metric} = {value:.4f}{beside} (contract: "
        f"{contract.describe()}"
        + (f"; source: {contract.source}" if contract.source else "")
        + (f"; expected here: {contract.time} on {contract.hardware}" if contract.time else "")
        + ")"
    )
    return passed


def table(directory: str) -> str:
    """docs/experiments.md's table of every contract of the experiment files in `directory`."""
    lines = [
        "| experiment | contract | measured here | source | hardware, time |",
        "|---|---|---|---|---|",
    ]
    for path in sorted(glob.glob(os.path.join(directory, "*.py"))):
        name = os.path.basename(path)
        declared = experiment.contracts_of(experiment.load(path))
        every = [(arg, c) for arg, contracts in declared.items() for c in contracts]
        for arg, c in every:
            measured = f"{c.measured:g}" if c.measured is not None else "-"
            spec = f"{name}:{arg}" if arg else name
            beside = f" (beside: {', '.join(c.beside)})" if c.beside else ""
            lines.append(f"| `{spec}` | {c.describe()}{beside} | {measured} | {c.source} | {c.hardware}, {c.time} |")
    return "\n".join(lines) + "\n"
