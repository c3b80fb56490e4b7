"""Every field of lm/config.py outside the model acts: turned on a small base experiment, it changes what the
launcher's own functions produce (tests/knobs/registry.py says where each is seen; test_schema.py that none
is missing)."""

import pytest

from tests.knobs import effects, registry


@pytest.mark.parametrize("field", sorted(registry.RUN))
def test_the_field_changes_what_it_says(field, turn):
    effects.assert_acts(field, registry.RUN[field], turn)
