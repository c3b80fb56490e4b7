"""Reproduction contracts: what an experiment reproduces, checked by a command that fails when the code regresses.

An experiment file declares its contracts next to the config they describe, one per config argument:

    CONTRACTS = {
        "cpu": verify.Contract(metric="eval/loss", target=1.92, bound="at_most", step=2000,
                               source="nanoGPT README, shakespeare_char on CPU", hardware="2 CPU cores",
                               time="1 min 38 s", measured=1.9056),
    }

`--mode=verify` trains the experiment (or resumes it, or reads a workdir that already reached the step),
then prints PASS or FAIL with the measured value, the target, the bound and the source, and exits non-zero
on FAIL. The README's table of contracts is `table()` of the experiment files (a test checks that it is).
"""

import dataclasses
import glob
import importlib.util
import math
import os

import ml_collections

from lm import console, metrics

BOUNDS = ("at_most", "at_least", "within")


@dataclasses.dataclass(frozen=True)
class Contract:
    metric: str  # a key of metrics.jsonl, e.g. eval/loss
    target: float
    bound: str = "at_most"  # at_most: value <= target; at_least: value >= target; within: |value - target| <= tolerance
    tolerance: float = 0.0
    step: int | None = None  # the step whose metric counts; None: the run's last
    source: str = ""  # the paper or repository, with the table or line
    hardware: str = ""  # where the expected time was measured
    time: str = ""  # the command's expected wall time there
    measured: float | None = None  # the value this codebase's command gave when the contract was written

    def __post_init__(self):
        if self.bound not in BOUNDS:
            raise ValueError(f"Contract bound={self.bound!r}: choose one of {', '.join(BOUNDS)}.")
        if self.bound == "within" and not self.tolerance > 0:
            raise ValueError(f"Contract bound='within' needs a tolerance > 0, not {self.tolerance}.")

    def holds(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.bound == "at_most":
            return value <= self.target
        if self.bound == "at_least":
            return value >= self.target
        return abs(value - self.target) <= self.tolerance

    def describe(self) -> str:
        bound = {"at_most": f"<= {self.target:g}", "at_least": f">= {self.target:g}"}.get(
            self.bound, f"= {self.target:g} ± {self.tolerance:g}"
        )
        return f"{self.metric} {bound}" + (f" at step {self.step}" if self.step is not None else "")


def value_at(workdir: str, metric: str, step: int) -> float | None:
    """The metric logged at `step` (the last such record), or None."""
    found = [r[metric] for r in metrics.read(workdir) if r["step"] == step and metric in r]
    return found[-1] if found else None


def verify(config: ml_collections.ConfigDict, workdir: str, contract: Contract, train_fn) -> bool:
    """Trains (or resumes) until the contract's step is logged, then prints PASS / FAIL; returns whether it holds."""
    step = contract.step if contract.step is not None else config.train.num_steps
    if step > config.train.num_steps:
        raise ValueError(
            f"The contract is about step {step} but the run ends at train.num_steps={config.train.num_steps}: "
            "raise num_steps or fix the contract."
        )
    if value_at(workdir, contract.metric, step) is None:
        train_fn(config, workdir)
    value = value_at(workdir, contract.metric, step)
    if value is None:
        raise ValueError(
            f"{workdir}/metrics.jsonl has no {contract.metric} at step {step}: the metric must be one the run logs "
            "there (evaluations happen every train.eval_every steps and at the last)."
        )
    passed = contract.holds(value)
    console.log(
        f"{'PASS' if passed else 'FAIL'}: {contract.metric} = {value:.4f} (contract: {contract.describe()}"
        + (f"; source: {contract.source}" if contract.source else "")
        + (f"; expected here: {contract.time} on {contract.hardware}" if contract.time else "")
        + ")"
    )
    return passed


def contracts_of(module) -> dict[str, Contract]:
    """An experiment module's CONTRACTS (config argument -> Contract), checked."""
    contracts = getattr(module, "CONTRACTS", {})
    if not isinstance(contracts, dict) or not all(isinstance(c, Contract) for c in contracts.values()):
        raise ValueError(f"{module.__file__}: CONTRACTS must be a dict of config argument -> lm.verify.Contract.")
    return contracts


def load_experiment(path: str):
    spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table(directory: str) -> str:
    """The README's table of every contract of the experiment files in `directory`."""
    lines = [
        "| experiment | contract | measured here | source | hardware, time |",
        "|---|---|---|---|---|",
    ]
    for path in sorted(glob.glob(os.path.join(directory, "*.py"))):
        name = os.path.basename(path)
        for arg, c in contracts_of(load_experiment(path)).items():
            measured = f"{c.measured:g}" if c.measured is not None else "-"
            spec = f"{name}:{arg}" if arg else name
            lines.append(f"| `{spec}` | {c.describe()} | {measured} | {c.source} | {c.hardware}, {c.time} |")
    return "\n".join(lines) + "\n"
