"""The command line: parses the flags, sets up the process and runs the mode (lm/modes/, a file each).
`python launch.py ...` in a checkout and the `lm` command that `pip install` puts on the PATH both run
`run()` here.

    python launch.py                                         # the default experiment, built-in corpus
    python launch.py --config=experiments/shakespeare_char.py:cpu --workdir=/tmp/sc
    python launch.py --config=experiments/shakespeare_char.py:cpu --config.data.path=input.txt
    python launch.py --config=... --workdir=/tmp/sc --mode=sample --prompt="ROMEO:" --num_samples=3
    python launch.py --mode=sample --help                   # the flags of one mode; --helpfull: all of them

An experiment is a Python file whose get_config(arg) returns an ml_collections ConfigDict (fields and
defaults in lm/config.py); `--config.a.b=V` overrides any field. Re-running a train command with the
same workdir resumes from its latest checkpoint.
"""

import errno
import glob
import os
import re
import signal
import sys

import ml_collections
from absl import app, flags, logging
from ml_collections import config_flags

from lm.modes import MODES

# The experiment files live in the checkout beside launch.py; a package installed without the checkout (`pip
# install .`) carries none, and then experiments/ of the current directory is the default's home.
_CHECKOUT_EXPERIMENTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "experiments")
EXPERIMENTS = _CHECKOUT_EXPERIMENTS if os.path.isdir(_CHECKOUT_EXPERIMENTS) else os.path.abspath("experiments")
DEFAULT_CONFIG = os.path.join(EXPERIMENTS, "default.py")

_CONFIG = config_flags.DEFINE_config_file("config", None, "experiment file[:arg], default experiments/default.py")
_WORKDIR = flags.DEFINE_string("workdir", None, "run directory (default: workdirs/<experiment>[_<arg>])")
_MODE = flags.DEFINE_enum("mode", "train", list(MODES), "what to do with the experiment (and its workdir): lm/modes/")
_TRACEBACK = flags.DEFINE_bool(
    "traceback",
    False,
    "show the full traceback of input errors, and all that orbax and TensorStore print on a failed save or read",
)
_STEP = flags.DEFINE_integer(
    "step",
    None,
    "the checkpoint of this step, for every mode that reads one (eval, sample, score, export, harness; "
    "train: go on from it): --config.train.restore=STEP",
)
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None, "several processes: host:port of process 0 (with --num_processes, --process_id)"
)
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "several processes: how many in all")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "several processes: this one's index, 0 first")
_INIT_TIMEOUT = flags.DEFINE_float(
    "init_timeout", 120.0, "several processes: seconds to wait for process 0 and the others before an error"
)
_DISTRIBUTED = flags.DEFINE_bool(
    "distributed", False, "several processes, from the cluster's environment (SLURM, TPU pods): jax.distributed"
)


def parse_flags(argv: list[str]):
    """absl parsing, with experiments/default.py when no --config is given and a one-paragraph error
    (not a traceback, unless --traceback) for a missing or broken experiment file, unknown config keys and
    values of the wrong type."""
    if "--helpfull" in argv[1:]:
        print(f"{__doc__}\nEvery flag, the launcher's and each mode's:\n{flags.FLAGS.get_help()}")
        sys.exit(0)
    if any(arg in ("--help", "-h", "--helpshort") for arg in argv[1:]):
        print(usage(mode_of(argv)))
        sys.exit(0)
    if not any(re.match(r"^--?config(=|$)", arg) for arg in argv[1:]):
        argv = [argv[0], f"--config={DEFAULT_CONFIG}", *argv[1:]]
    path = config_spec(argv).partition(":")[0]
    if not os.path.isfile(path):
        experiments = sorted(os.path.relpath(p) for p in glob.glob(os.path.join(EXPERIMENTS, "*.py")))
        ours = f"one of {', '.join(experiments)} or " if experiments else ""
        sys.exit(
            f"error: the experiment file {path} does not exist. Pass --config=FILE.py[:ARG], {ours}a file of "
            "your own with a get_config(arg) function (the checkout's experiments/ holds the shipped ones)."
        )
    sys.argv[:] = argv  # config_flags reads the overrides from sys.argv
    try:
        return flags.FLAGS(argv)
    except Exception as e:  # absl, ml_collections and the experiment file's own code raise many kinds
        if "--traceback" in argv:
            raise
        text = str(e)
        if "Traceback (most recent call last)" in text:  # an error inside the experiment file: its last line
            text = f"{path}: {[line for line in text.splitlines() if line.strip()][-1].strip()}"
        message = text.strip()
        if isinstance(e, (KeyError, AttributeError)):  # KeyError's repr quotes and escapes
            message = "unknown config key: " + re.sub(r"\\n|[\\'\"]", " ", message).strip()
        if "Unknown command line flag 'seed'" in message:
            message += " (renamed: --sample_seed sets the sampling seed, --config.seed the run's)"
        sys.exit(
            f"error: bad command line: {' '.join(message.split())}\nEvery --config.KEY must be a field of the "
            "experiment's config (lm/config.py lists every field and its type); `--helpfull` lists the flags; "
            "--traceback shows where an error in an experiment file comes from."
        )


def mode_of(argv: list[str]) -> str | None:
    """The value of --mode in argv, if it names a mode."""
    for i, arg in enumerate(argv):
        value = arg.split("=", 1)[1] if re.match(r"^--?mode=", arg) else None
        if re.match(r"^--?mode$", arg) and i + 1 < len(argv):
            value = argv[i + 1]
        if value in MODES:
            return value
    return None


def usage(mode: str | None) -> str:
    """--help: this module's docstring, the modes and the launcher's flags; with --mode=NAME, that mode's file
    docstring and its flags. (--helpfull: absl's list of every flag.)"""
    launcher_flags = "The launcher's flags:\n" + flags.FLAGS.module_help(__name__)
    if mode is None:
        modes = [f"  {name:<16}{module.__doc__.split(': ', 1)[1].splitlines()[0]}" for name, module in MODES.items()]
        lines = [__doc__, "The modes (--mode=NAME; `--mode=NAME --help` lists its flags, --helpfull all flags):"]
        return "\n".join([*lines, *modes, "", launcher_flags])
    module = MODES[mode]
    own = flags.FLAGS.get_flags_for_module(module.__name__)
    own = f"Its flags:\n{flags.FLAGS.module_help(module.__name__)}" if own else "It has no flags of its own."
    return "\n".join([module.__doc__, own, "", launcher_flags])


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}; flags take the form --name=value.")
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # orbax logs every file it writes at INFO
    widen_cpu_thread_pool(os.environ)
    import jax

    from lm import console

    if not _TRACEBACK.value:
        console.quiet_library_noise()

    from lm import parallel, train

    try:  # before any other JAX call
        parallel.initialize_distributed(
            _COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value, _DISTRIBUTED.value, _INIT_TIMEOUT.value
        )
    except ValueError as e:
        sys.exit(f"error: {e}")

    cache = os.path.expanduser(os.environ.get("LM_COMPILATION_CACHE", "~/.cache/lm/jax"))
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    try:
        MODES[_MODE.value].run(configured(), workdir_flag(), config_spec(sys.argv))
    except ValueError as e:  # lm raises ValueError for bad input, with the problem and the fix
        if _TRACEBACK.value:
            raise
        sys.exit(f"error: {e}")
    except OSError as e:  # a write the file system refused, outside the checkpoints (lm/checkpoint.py's own)
        if _TRACEBACK.value or e.errno not in WRITE_FAILURES:
            raise
        what = f"writing {e.filename}" if e.filename else "a write"
        sys.exit(
            f"error: {what} failed: {e.strerror}. Make room on the disk (or raise the file size limit, `ulimit -f`) "
            "and run the same command again: a training run resumes from its last checkpoint."
        )
    except train.Preempted as e:  # the step reached is saved: exit as a signalled process would
        print(str(e), file=sys.stderr, flush=True)
        sys.exit(128 + signal.Signals[e.signal_name].value)
    except KeyboardInterrupt as e:  # a second signal while the first was being handled (or Ctrl-C outside training)
        print(
            f"interrupted ({e or 'SIGINT'}): stopped at once. A checkpoint being written is kept only if it completed; "
            "the ones before it are intact. Run the same command again: it continues from the latest complete one.",
            file=sys.stderr,
            flush=True,
        )
        sys.exit(128 + getattr(e, "signum", signal.SIGINT))


WRITE_FAILURES = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)  # a full disk, a file size limit, a full quota


def configured():
    """The parsed experiment config, with the fields the modes' flags write (sample's --prompt, --temperature,
    ...: in every mode, as training's samples read them too)."""
    config = _CONFIG.value
    if not isinstance(config, ml_collections.ConfigDict):
        sys.exit(
            f"error: get_config in {config_spec(sys.argv).partition(':')[0]} returned a {type(config).__name__}, "
            "not an ml_collections.ConfigDict. Start from lm.config.default_config() and return it."
        )
    for mode in MODES.values():
        if hasattr(mode, "configure"):
            mode.configure(config)
    if _STEP.value is not None:
        if _STEP.value < 0:
            sys.exit(f"error: --step={_STEP.value} must be a step number >= 0 (a checkpoint's).")
        config.train.restore = str(_STEP.value)
    return config


def workdir_flag() -> str:
    """--workdir, or workdirs/<experiment>[_<arg>] under the current directory."""
    return _WORKDIR.value or default_workdir(config_spec(sys.argv))


def widen_cpu_thread_pool(environ) -> None:
    """Two XLA:CPU pool threads per fake CPU device (XLA_FLAGS' forced device count), unless NPROC is set.

    The pool has max(cores, devices) threads, and XLA:CPU's in-process all-reduce can then deadlock under
    pmap (a rendezvous timeout, then an abort): 2 devices on 2 threads did within 1,000 steps of
    shakespeare_char, on 4 threads not in 20,000.
    """
    forced = re.search(r"xla_force_host_platform_device_count=(\d+)", environ.get("XLA_FLAGS", ""))
    if forced and int(forced.group(1)) > 1:
        environ.setdefault("NPROC", str(2 * int(forced.group(1))))


def config_spec(argv: list[str]) -> str:
    """The value of --config in argv ("file.py" or "file.py:arg")."""
    for i, arg in enumerate(argv):
        if re.match(r"^--?config=", arg):
            return arg.split("=", 1)[1]
        if re.match(r"^--?config$", arg) and i + 1 < len(argv):
            return argv[i + 1]
    return DEFAULT_CONFIG


def default_workdir(spec: str) -> str:
    """workdirs/<experiment>[_<arg>] under the current directory."""
    path, _, arg = spec.partition(":")
    name = os.path.splitext(os.path.basename(path))[0]
    return os.path.join("workdirs", f"{name}_{arg}" if arg else name)


def run() -> None:
    """launch.py's and the `lm` command's entry: absl parses the flags (parse_flags), then main runs."""
    sys.modules["__main__"].__doc__ = __doc__  # what --help prints above the flags (absl reads __main__'s)
    app.run(main, flags_parser=parse_flags)
