"""What an experiment file declares, importable without JAX: its reproduction contracts (`Contract`, checked
by --mode=verify in lm/verify.py), its sweep's variants (`grid`, run by --mode=sweep in lm/sweep.py; `Variant`
names each one's workdir), and `load` of an experiment file (one experiment may build on another's config).

    from lm.experiment import Contract, grid

    CONTRACTS = {"cpu": Contract(metric="eval/loss", target=1.92, step=2000, source="nanoGPT README")}

    def get_sweep(arg):
        return grid({"model.position": ["learned", "rotary"]}, seeds=[0, 1, 2])
"""

import dataclasses
import hashlib
import importlib.util
import itertools
import math
import os

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
    # The value this codebase's command gave when the contract was written (over seeds: the worst seed's).
    measured: float | None = None
    # A contract about a variant or over seeds runs each in WORKDIR/<overrides,seed=N> (named as a sweep's
    # variants, so --mode=collate reads them too); without any of the three it is about the run in WORKDIR.
    overrides: dict = dataclasses.field(default_factory=dict)  # the variant, e.g. {"model.num_layers": 2}
    seeds: tuple[int, ...] = ()  # every seed's value must hold the bound (default: the config's seed)
    baseline: dict | None = None  # the value is the run's minus that of these overrides, seed by seed
    beside: tuple[str, ...] = ()  # other metrics printed beside the verdict (an estimate a paper quotes)

    def __post_init__(self):
        if self.bound not in BOUNDS:
            raise ValueError(f"Contract bound={self.bound!r}: choose one of {', '.join(BOUNDS)}.")
        if self.bound == "within" and not self.tolerance > 0:
            raise ValueError(f"Contract bound='within' needs a tolerance > 0, not {self.tolerance}.")

    @property
    def variants(self) -> bool:
        return bool(self.overrides or self.seeds or self.baseline is not None)

    def holds(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.bound == "at_most":
            return value <= self.target
        if self.bound == "at_least":
            return value >= self.target
        return abs(value - self.target) <= self.tolerance

    def worst(self, values: list[float]) -> float:
        """The value furthest on the wrong side of the bound (a non-finite one first)."""
        broken = [v for v in values if not math.isfinite(v)]
        if broken:
            return broken[0]
        if self.bound == "at_least":
            return min(values)
        if self.bound == "at_most":
            return max(values)
        return max(values, key=lambda v: abs(v - self.target))

    def describe(self) -> str:
        bound = {"at_most": f"<= {self.target:g}", "at_least": f">= {self.target:g}"}.get(
            self.bound, f"= {self.target:g} ± {self.tolerance:g}"
        )
        what = self.metric
        if self.baseline is not None:
            what += f" minus that of {variant_name(self.baseline)}"
        out = f"{what} {bound}" + (f" at step {self.step}" if self.step is not None else "")
        if self.overrides:
            out = f"{variant_name(self.overrides)}: {out}"
        if self.seeds:
            out += f", every seed of {', '.join(map(str, self.seeds))}"
        return out


@dataclasses.dataclass(frozen=True)
class Variant:
    index: int
    overrides: dict  # dotted config key -> value, in the order the experiment gave them

    @property
    def name(self) -> str:
        """key=value pairs joined by commas; one over 200 bytes is cut there and ends with a hash of the whole
        (a file name may hold 255 bytes), so that every variant keeps a workdir of its own."""
        name = ",".join(f"{k}={_format(v)}" for k, v in self.overrides.items())
        if len(name.encode()) <= 200:
            return name
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        return name.encode()[:180].decode("utf-8", "ignore") + f"...{digest}"


def grid(axes: dict[str, list], seeds=(0,)) -> list[dict]:
    """Every combination of the axes' values, times the seeds (seed varies fastest)."""
    keys = list(axes)
    return [
        {**dict(zip(keys, values, strict=True)), "seed": seed}
        for values in itertools.product(*(axes[k] for k in keys))
        for seed in seeds
    ]


def contracts_of(module) -> dict[str, list[Contract]]:
    """An experiment module's CONTRACTS (config argument -> a Contract or a list of them), as lists, checked."""
    contracts = getattr(module, "CONTRACTS", {})
    out = {}
    if isinstance(contracts, dict):
        out = {arg: list(c) if isinstance(c, (list, tuple)) else [c] for arg, c in contracts.items()}
    if not isinstance(contracts, dict) or not all(isinstance(c, Contract) for cs in out.values() for c in cs):
        raise ValueError(
            f"{module.__file__}: CONTRACTS must be a dict of config argument -> lm.experiment.Contract (or a list of "
            "them)."
        )
    return out


def load(path: str):
    """The experiment file at `path`, imported as a module."""
    spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def variant_name(overrides: dict) -> str:
    """A variant's name, and its workdir's: key=value pairs joined by commas."""
    return Variant(0, overrides).name


def _format(value) -> str:
    return str(value).replace("/", "_").replace(",", "_")
