"""The small base experiments the knobs are turned on, their data files, and trained workdirs to evaluate."""

import contextlib
import io
import shutil

import pytest

from lm import train
from tests.knobs import effects, registry
from tests.knobs.bases import bases, fake_tiny_shakespeare, write_data


@pytest.fixture(scope="session")
def knob_data(tmp_path_factory):
    directory = tmp_path_factory.mktemp("knob_data")
    write_data(directory)
    return directory


@pytest.fixture(scope="session")
def knob_bases(knob_data) -> dict:
    return bases(knob_data)


@pytest.fixture(scope="session")
def trained(knob_bases, tmp_path_factory):
    """base name -> a workdir trained as that base says (made when first asked for), copied for each use."""
    made = {}

    def workdir(name: str) -> str:
        if name not in made:
            made[name] = str(tmp_path_factory.mktemp("trained") / name.replace(" ", "_"))
            with contextlib.redirect_stdout(io.StringIO()):
                train.train(knob_bases[name], made[name])
        copy = str(tmp_path_factory.mktemp("copy") / "run")
        shutil.copytree(made[name], copy)
        return copy

    return workdir


def observe(seen_in: str, config, workdir=None):
    """What `seen_in` (tests/knobs/registry.py) observes of a run of `config` (and of its trained `workdir`)."""
    if seen_in.startswith("tfds"):
        tfds = pytest.importorskip("tensorflow_datasets")  # requirements-tfds.txt

        with tfds.testing.mock_data(as_dataset_fn=fake_tiny_shakespeare):
            return observe(seen_in.replace("tfds", "step"), config)
    if seen_in == "step shapes":
        return effects.shapes(config)
    if seen_in == "how":
        return {"program": effects.program(config), "step": effects.step(config)}
    if seen_in in ("evaluation", "samples", "decoded"):
        return getattr(effects, seen_in)(config, workdir)
    return getattr(effects, seen_in)(config)


@pytest.fixture(scope="session")
def turn(knob_bases, knob_data, trained):
    """turn(field, knob) -> (the base's observation, the observation with the knob turned); the bases'
    observations are made once per session."""
    seen, finetune = {}, []

    def value_of(knob):
        if isinstance(knob.value, registry.Trained):
            return trained(knob.value.base)
        if isinstance(knob.value, str) and knob.value.endswith((".txt", ".jsonl", "_shards", "hf_other", "_bpe")):
            return str(knob_data / knob.value)
        return knob.value

    def base_config(name):
        if name == registry.FINETUNE:  # the classifier fine-tuned from the causal base's trained workdir
            if not finetune:
                finetune.append(effects.with_value(knob_bases["classify"], "init_from", trained("causal")))
            return finetune[0]
        return knob_bases[name]

    def run(field, knob):
        base = base_config(knob.base)
        changed = effects.with_value(base, field, value_of(knob))
        assert changed.to_dict() != base.to_dict(), f"{field}={knob.value!r} is the base's own value"
        trained_dir = None
        if knob.seen_in in ("evaluation", "samples", "decoded"):
            trained_dir = trained(knob.workdir or knob.base)
        if knob.seen_in in ("step", "tfds"):  # first what the run is made of: a new shape or batch shows there
            before, after = (observe(f"{knob.seen_in} shapes", config) for config in (base, changed))
            if effects.differ(before, after):
                return before, after
        key = (knob.base, knob.seen_in, knob.workdir)
        if key not in seen:
            seen[key] = observe(knob.seen_in, base, trained_dir)
        return seen[key], observe(knob.seen_in, changed, trained_dir)

    return run
