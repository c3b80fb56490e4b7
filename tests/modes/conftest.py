"""A trained workdir for the modes that read one (tiny_config: 4 steps on the built-in corpus)."""

import pytest
from absl import flags

from lm import train


@pytest.fixture
def workdir(tiny_config, tmp_path):
    path = str(tmp_path / "run")
    train.train(tiny_config, path)
    return path


@pytest.fixture
def parsed():
    """Parses launcher arguments into the process's flags (as lm/cli.py does), for a mode's run() called here;
    the flags are unparsed again afterwards."""

    def parse(*args):
        flags.FLAGS.unparse_flags()
        flags.FLAGS(["launch.py", *args])

    yield parse
    flags.FLAGS.unparse_flags()
