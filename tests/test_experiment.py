"""What an experiment file declares (lm/experiment.py): contracts and their bounds, a sweep's grid; and that
declaring them, with the config, imports no JAX."""

import glob
import os
import subprocess
import sys

import numpy as np
import pytest

from lm import experiment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_each_bound_holds_where_it_should():
    at_most = experiment.Contract(metric="eval/loss", target=1.92, bound="at_most", step=2000)
    assert at_most.holds(1.92) and at_most.holds(1.5) and not at_most.holds(1.9201) and not at_most.holds(float("nan"))
    at_least = experiment.Contract(metric="eval/exact_match", target=0.99, bound="at_least")
    assert at_least.holds(1.0) and at_least.holds(0.99) and not at_least.holds(0.98)
    within = experiment.Contract(metric="eval/loss", target=2.0, bound="within", tolerance=0.05)
    assert within.holds(2.05) and within.holds(1.96) and not within.holds(2.06) and not within.holds(1.9)
    assert at_most.worst([1.8, 1.95, 1.9]) == 1.95 and at_least.worst([0.995, 0.98]) == 0.98
    assert within.worst([2.01, 1.9, 2.03]) == 1.9 and np.isnan(at_most.worst([1.0, float("nan"), 5.0]))
    assert at_most.describe() == "eval/loss <= 1.92 at step 2000"
    assert within.describe() == "eval/loss = 2 ± 0.05"
    with pytest.raises(ValueError, match="choose one of at_most, at_least, within"):
        experiment.Contract(metric="eval/loss", target=1.0, bound="below")
    with pytest.raises(ValueError, match="needs a tolerance > 0"):
        experiment.Contract(metric="eval/loss", target=1.0, bound="within")


def test_the_grid_crosses_the_axes_with_seeds_fastest():
    assert experiment.grid({"a": [1, 2], "b": ["x"]}, seeds=[0, 1]) == [
        {"a": 1, "b": "x", "seed": 0},
        {"a": 1, "b": "x", "seed": 1},
        {"a": 2, "b": "x", "seed": 0},
        {"a": 2, "b": "x", "seed": 1},
    ]
    assert experiment.variant_name({"data.path": "a/b.txt", "model.position": "rotary"}) == (
        "data.path=a_b.txt,model.position=rotary"
    )


def test_the_config_and_every_experiment_file_load_without_jax():
    """An experiment file (its config, contracts and sweep) is data: reading one costs no JAX, Flax or orbax."""
    paths = sorted(glob.glob(os.path.join(ROOT, "experiments", "*.py")))
    code = (
        "import sys; from lm import experiment; "
        f"[experiment.load(p).get_config() for p in {paths!r}]; "
        "print(sorted(m for m in ('jax', 'flax', 'optax', 'orbax', 'tensorflow', 'torch') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(paths) >= 12 and result.stdout.split() == ["[]"]
