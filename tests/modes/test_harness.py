"""--mode=harness (lm/modes/harness.py): its options are checked before anything is read (the harness itself:
tests/evaluators/test_harness.py)."""

import pytest

from lm.modes import harness


@pytest.mark.parametrize(
    "tasks, options, needle",
    [([], {}, "needs --tasks"), (["t"], {"limit": 0}, "--limit=0 above 0"), (["t"], {"num_fewshot": -1}, "=-1 must")],
)
def test_harness_refuses_bad_options_before_reading_anything(tiny_config, tmp_path, tasks, options, needle):
    with pytest.raises(ValueError, match=needle):
        harness.harness(tiny_config, str(tmp_path / "none"), tasks, **options)
    assert not (tmp_path / "none").exists()
