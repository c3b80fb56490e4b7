"""--mode=verify (lm/modes/verify.py): the contracts are the experiment file's CONTRACTS of its argument (the
verification itself: tests/test_verify.py)."""

import os

import pytest

from lm.experiment import Contract
from lm.modes import verify

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_contracts_are_those_the_experiment_file_declares_for_its_argument():
    contracts = verify.contracts(os.path.join(ROOT, "experiments", "shakespeare_char.py:cpu"))
    assert contracts and all(isinstance(c, Contract) for c in contracts)
    with pytest.raises(ValueError, match=r"declares no reproduction contract .* those it declares: .*default.py:\."):
        verify.contracts(os.path.join(ROOT, "experiments", "default.py:nonsense"))
