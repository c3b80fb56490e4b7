"""launch.py in a process of its own, as a user of the main install runs it.

The main install (requirements.txt) has none of the packages that only the optional installs bring: TensorFlow and
tensorflow-datasets (requirements-tfds.txt), torch, transformers and pytest (requirements-test.txt), wandb
(requirements-wandb.txt). The suite needs them, so they are installed here; a launched process sees an environment
without them: Python starts without its site-packages (-S) and takes a directory of links to every entry of it but
theirs (their modules and their metadata). Every path the suite launches (training on the built-in corpus and text
files, TensorBoard, sampling, scoring, Hugging Face import and export, sweeps, the harness, every input error) thus
runs as it would without them, and a TFDS run stops with the command that installs them
(tests/data/test_tfds_source.py).

`Launcher` runs many such commands at the cost of one start (each would spend 3 s importing JAX, Flax and
orbax; the bad-input matrix has 230, and `launch` itself goes through a Launcher per test process): one
process of the main install imports what launch.py imports, without starting JAX, then forks a fresh copy of
itself per command, which sets its argv, working directory and output files and runs launch.py's
`cli.run()`. The copy starts JAX itself and ends as a launched process ends (its own exit code, atexit
handlers and interpreter shutdown), so what a command prints and how it exits are what a process started
for it would give. The imports leave two idle native threads (OpenBLAS's pool, jemalloc's background
thread), which their libraries restart in a forked child; a copy that hung would be killed at its timeout
and fail its test.
"""

import atexit
import collections
import functools
import gc
import importlib.metadata
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time

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
    optional |= _distributions("requirements-wandb.txt")
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


def launch(*args: str, cwd=None, devices: int = 1, timeout: int = 600, env=None) -> subprocess.CompletedProcess:
    """Runs `python launch.py ARGS` in the main install on `devices` CPU devices (1: as a user runs it; 8: the
    suite's fake devices), with `env` added to the environment, and returns the finished process, output
    captured. Without `env` the command is a fork of this test process's Launcher for `devices` (one start
    for all of its commands, with the environment of the first: later changes to os.environ do not reach
    it; one command at a time), else a process started for it."""
    if env is None:
        if devices not in _LAUNCHERS:
            _LAUNCHERS[devices] = Launcher(devices)
            atexit.register(_LAUNCHERS[devices].close)
        return _LAUNCHERS[devices].launch(*args, cwd=cwd or os.getcwd(), timeout=timeout)
    env = dict(os.environ, **env)
    env["XLA_FLAGS"] = "" if devices == 1 else f"--xla_force_host_platform_device_count={devices}"
    return subprocess.run(command(*args), capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)


class Launcher:
    """`launch` for many commands through one forking process of the main install (the module's docstring)."""

    def __init__(self, devices: int = 1, env=None):
        env = dict(os.environ, **(env or {}))
        env["XLA_FLAGS"] = "" if devices == 1 else f"--xla_force_host_platform_device_count={devices}"
        code = f"import site, sys; site.addsitedir({main_install()!r}); sys.path.insert(0, {ROOT!r}); "
        code += "from tests import launcher; launcher.serve()"
        self.server = subprocess.Popen(
            [sys.executable, "-S", "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        self.outputs = tempfile.mkdtemp(prefix="lm-launcher-")  # each command's stdout and stderr, read back

    def launch(self, *args: str, cwd, timeout: int = 600) -> subprocess.CompletedProcess:
        """`launch(*args, cwd=cwd)`: the finished command, its output captured."""
        out, err = os.path.join(self.outputs, "out"), os.path.join(self.outputs, "err")
        request = {"args": list(args), "cwd": str(cwd), "out": out, "err": err, "timeout": timeout}
        self.server.stdin.write(json.dumps(request) + "\n")
        self.server.stdin.flush()
        line = self.server.stdout.readline()
        if not line:  # the forking process itself died (its stderr, above, says why)
            raise RuntimeError(f"the launcher's forking process exited (code {self.server.poll()}) before {args}")
        returncode = json.loads(line)
        outputs = []
        for path in (out, err):
            with open(path, errors="replace") as f:
                outputs.append(f.read())
            os.remove(path)
        return subprocess.CompletedProcess(["launch.py", *args], returncode, *outputs)

    def close(self) -> None:
        self.server.stdin.close()
        self.server.wait(timeout=60)
        shutil.rmtree(self.outputs, ignore_errors=True)


_LAUNCHERS: dict[int, Launcher] = {}  # launch's, by number of devices


def serve() -> None:
    """The forking process: imports what launch.py imports (JAX not started: forking a process whose JAX runs
    threads would copy their locks mid-use), then per request line forks a copy that runs the command."""
    sys.argv = ["launch.py"]
    from jax._src import xla_bridge

    from lm import checkpoint, cli, train  # noqa: F401  (the modules every mode imports)

    assert not xla_bridge._backends, "JAX started before the fork"
    # A forked copy's exit would collect every object imported here, touching (and so copying) each page of
    # them: 0.7 s a command. Frozen, they are left to the operating system, as a process's memory is at exit.
    gc.freeze()
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:  # the command's process: it leaves by SystemExit (absl's app.run always exits) or an error
            _become(request)
            cli.run()
        print(json.dumps(_wait(pid, request["timeout"])), flush=True)


def _become(request) -> None:
    """Turns the forked copy into `python launch.py ARGS` run in CWD, with stdout and stderr to files."""
    os.chdir(request["cwd"])
    sys.argv = ["launch.py", *request["args"]]
    stdin = os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    os.close(stdin)
    for fd, path in ((1, request["out"]), (2, request["err"])):
        opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(opened, fd)
        os.close(opened)


def _wait(pid: int, timeout: float) -> int:
    """The exit code of process `pid` (-N: killed by signal N, as subprocess reports it), killed past `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)
