"""--mode=sweep (lm/modes/sweep.py): the variants come from the experiment file's get_sweep (the sweep itself:
tests/test_sweep.py)."""

import os

import pytest

from lm.modes import sweep

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_overrides_are_the_experiment_files_get_sweep_of_its_argument():
    overrides = sweep.overrides(os.path.join(ROOT, "experiments", "positions.py:cpu"))
    assert len(overrides) > 1 and all(isinstance(o, dict) for o in overrides)
    with pytest.raises(ValueError, match="defines no get_sweep"):
        sweep.overrides(os.path.join(ROOT, "experiments", "default.py"))
