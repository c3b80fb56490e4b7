"""Every field of lm/models/config.py acts: turned on a small base experiment, it changes what the launcher's
own functions produce (tests/knobs/registry.py says where each is seen; test_schema.py that none is missing)."""

import pytest

from tests.knobs import effects, registry


@pytest.mark.parametrize("name", sorted(registry.MODEL))
def test_the_model_field_changes_what_it_says(name, turn):
    effects.assert_acts(f"model.{name}", registry.MODEL[name], turn)
