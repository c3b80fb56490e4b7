"""Every config field acts: turned on a small base experiment, it changes what the launcher's own functions
produce (tests/knobs/registry.py says where each is seen; test_schema.py that every field is listed)."""

import pytest

from tests.knobs import effects, registry

FIELDS = {f"model.{name}": knob for name, knob in registry.MODEL.items()} | registry.RUN


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_the_field_changes_what_it_says(field, turn):
    knob = FIELDS[field]
    before, after = turn(field, knob)
    if knob.seen_in == "how":  # another program for the same step
        assert effects.differ(before["program"], after["program"]), f"{field} left the compiled step as it was"
        metrics = lambda seen: {k: v for k, v in seen["step"].items() if k.startswith("metrics")}  # noqa: E731
        assert effects.close(metrics(before), metrics(after), rtol=2e-5), f"{field} changed the step's result"
    else:
        assert effects.differ(before, after), f"{field}={knob.value!r} changed nothing {knob.seen_in} shows"
