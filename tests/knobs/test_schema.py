"""The knobs' list is the schema: every field of lm/config.py and lm/models/config.py and every flag of
launch.py has an effect check (tests/knobs/registry.py), so a new knob without one fails here."""

import dataclasses

import ml_collections
from absl import flags

from lm import cli
from lm.config import default_config
from lm.models.config import ModelConfig
from lm.modes import MODES
from tests.knobs import registry

ABSL_FLAGS = {"verbosity", "v", "logtostderr", "alsologtostderr", "log_dir", "stderrthreshold", "showprefixforinfo"}


def config_fields(config: ml_collections.ConfigDict, prefix: str = "") -> set[str]:
    fields = set()
    for key, value in config.items():
        if isinstance(value, ml_collections.ConfigDict):
            fields |= config_fields(value, f"{prefix}{key}.")
        else:
            fields.add(prefix + key)
    return fields


def launch_flags() -> set[str]:
    """The flags launch.py defines, the launcher's and every mode's (not absl's own, nor config_flags' --config.KEY
    overrides)."""
    modules = [cli, *MODES.values()]
    return {f.name for module in modules for f in flags.FLAGS.get_flags_for_module(module)} - ABSL_FLAGS


def test_every_field_and_flag_has_an_effect_check():
    model = {f.name for f in dataclasses.fields(ModelConfig)}
    fields = config_fields(default_config())
    assert {f.removeprefix("model.") for f in fields if f.startswith("model.")} == model  # config.model mirrors it
    assert set(registry.MODEL) == model, "model fields without an effect check, or checks of no field"
    assert set(registry.RUN) == {f for f in fields if not f.startswith("model.")}
    assert set(registry.FLAG_FIELDS) | set(registry.FLAG_TESTS) == launch_flags()
    assert not set(registry.FLAG_FIELDS) & set(registry.FLAG_TESTS)
    assert len(model) + len(registry.RUN) > 130 and len(launch_flags()) > 30  # the walk found the schema
