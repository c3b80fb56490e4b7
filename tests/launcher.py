"""launch.py in a process of its own, as a user of the main install runs it.

The main install (requirements.txt) has none of the packages that only the optional installs bring:
TensorFlow and tensorflow-datasets (requirements-tfds.txt), torch, transformers and pytest
(requirements-test.txt). The suite needs them, so they are installed here; a launched process sees an
environment without them: Python starts without its site-packages (-S) and takes a directory of links to
every entry of it but theirs (their modules and their metadata). Every path the suite launches (training on
the built-in corpus and text files, TensorBoard, sampling, scoring, Hugging Face import and export, sweeps,
the harness, every input error) thus runs as it would without them, and a TFDS run stops with the command
that installs them (tests/data/test_tfds_source.py).
"""

import atexit
import collections
import functools
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _distributions(requirements: str) -> set[str]:
    """The normalised names of the distributions a requirements file pins."""
    with open(os.path.join(ROOT, requirements)) as f:
        lines = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    return {_normal(re.split(r"[=<>\[; ]", line)[0]) for line in lines}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.cache
def main_install() -> str:
    """A directory of links to this environment's site-packages, less the top-level entries (modules,
    metadata, bundled libraries) that belong only to distributions of the optional installs (a namespace
    shared with the main install, like `google`, stays)."""
    optional = _distributions("requirements-tfds.txt") | _distributions("requirements-test.txt")
    absent = optional - _distributions("requirements.txt") - _distributions("requirements-eval.txt")
    site = sysconfig.get_paths()["purelib"]
    owners = collections.defaultdict(set)  # top-level entry -> the distributions with files in it
    for dist in importlib.metadata.distributions(path=[site]):
        for file in dist.files or []:
            owners[file.parts[0]].add(_normal(dist.metadata["Name"]))
    directory = tempfile.mkdtemp(prefix="lm-main-install-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    for entry in os.listdir(site):
        if not (owners[entry] and owners[entry] <= absent):
            os.symlink(os.path.join(site, entry), os.path.join(directory, entry))
    return directory


def command(*args: str) -> list[str]:
    """The argv of `python launch.py ARGS` in the main install."""
    code = (
        f"import site, sys; site.addsitedir({main_install()!r}); sys.path.insert(0, {ROOT!r}); "
        "from lm import cli; cli.run()"  # what launch.py runs
    )
    return [sys.executable, "-S", "-c", code, *args]


def launch(*args: str, cwd=None, devices: int = 1, timeout: int = 600) -> subprocess.CompletedProcess:
    """Runs `python launch.py ARGS` in the main install on `devices` CPU devices (1: as a user runs it; 8: the
    suite's fake devices) and returns the finished process, output captured."""
    env = dict(os.environ, XLA_FLAGS="" if devices == 1 else f"--xla_force_host_platform_device_count={devices}")
    return subprocess.run(command(*args), capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)
