"""The command line of every mode of the library: train, evaluate, sample, score, export, harness, benchmark,
sweep, collate, compare, verify. `python launch.py ...` in a checkout and the `lm` command that
`pip install` puts on the PATH both run `run()` here.

    python launch.py                                         # the default experiment, built-in corpus
    python launch.py --config=experiments/shakespeare_char.py:cpu --workdir=/tmp/sc
    python launch.py --config=experiments/shakespeare_char.py:cpu --config.data.path=input.txt
    python launch.py --config=... --workdir=/tmp/sc --mode=sample --prompt="ROMEO:" --num_samples=3
    python launch.py --config=experiments/gpt2.py --config.init_from=~/models/gpt2 --mode=sample \\
        --prompt="Hello, my name is" --num_samples=5
    python launch.py --config=... --workdir=/tmp/sc --mode=score --text="To be, or not to be"
    python launch.py --config=... --workdir=/tmp/sc --mode=export --out=/tmp/sc_hf   # GPT-2 family -> HF files
    python launch.py --config=... --workdir=/tmp/sc --mode=harness --tasks=heldout_continuation --num_fewshot=3
    python launch.py --config=experiments/shakespeare_char.py:cpu --mode=bench        # speed, MFU, memory
    python launch.py --mode=bench_generate --config.model.max_len=256                  # KV cache vs none
    python launch.py --config=experiments/positions.py:cpu --mode=sweep --workdir=/tmp/pos   # every variant
    python launch.py --config=experiments/positions.py:cpu --mode=collate --workdir=/tmp/pos # table, curves
    python launch.py --config=experiments/shakespeare_char.py:cpu --mode=verify   # PASS / FAIL of its contract

An experiment is a Python file whose get_config(arg) returns an ml_collections ConfigDict (fields and
defaults in lm/config.py); `--config.a.b=V` overrides any field. Re-running a train command with the
same workdir resumes from its latest checkpoint.
"""

import glob
import os
import re
import signal
import sys

import ml_collections
from absl import app, flags, logging
from ml_collections import config_flags

# The experiment files live in the checkout beside launch.py; a package installed without the checkout (`pip
# install .`) carries none, and then experiments/ of the current directory is the default's home.
_CHECKOUT_EXPERIMENTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "experiments")
EXPERIMENTS = _CHECKOUT_EXPERIMENTS if os.path.isdir(_CHECKOUT_EXPERIMENTS) else os.path.abspath("experiments")
DEFAULT_CONFIG = os.path.join(EXPERIMENTS, "default.py")

_CONFIG = config_flags.DEFINE_config_file("config", None, "experiment file[:arg], default experiments/default.py")
_WORKDIR = flags.DEFINE_string("workdir", None, "run directory (default: workdirs/<experiment>[_<arg>])")
_MODE = flags.DEFINE_enum(
    "mode",
    "train",
    "train eval sample score export harness bench bench_generate sweep collate compare verify".split(),
    "what to do with the experiment (and its workdir)",
)
_PROMPT = flags.DEFINE_multi_string(
    "prompt", None, "sample: text to continue (default: config.sample.prompt); repeat for a batch of prompts"
)
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", None, "sample: how many continuations of each prompt")
_MAX_NEW_TOKENS = flags.DEFINE_integer("max_new_tokens", None, "sample: tokens to generate")
_TEMPERATURE = flags.DEFINE_float("temperature", None, "sample: softmax temperature; 0 is greedy")
_TOP_K = flags.DEFINE_integer("top_k", None, "sample: keep the k most likely tokens (0: all)")
_TOP_P = flags.DEFINE_float("top_p", None, "sample: keep the smallest set with this probability (1: all)")
_REPETITION_PENALTY = flags.DEFINE_float("repetition_penalty", None, "sample: > 1 discourages repeated tokens")
_NUM_BEAMS = flags.DEFINE_integer("num_beams", None, "sample: > 1 searches this many beams (instead of sampling)")
_LENGTH_PENALTY = flags.DEFINE_float("length_penalty", None, "sample: beam search's alpha in ((5 + len) / 6)^alpha")
_STOP = flags.DEFINE_multi_string("stop", None, "sample: a string that ends a continuation (repeatable)")
_SAMPLE_SEED = flags.DEFINE_integer("sample_seed", None, "sample: random seed of the samples (config.sample.seed)")
_TEXT = flags.DEFINE_string("text", None, "score: the text whose log-likelihood to compute")
_TEXT_FILE = flags.DEFINE_string("text_file", None, "score: a file holding that text")
_OUT = flags.DEFINE_string("out", None, "export: the directory for the Hugging Face files")
_TASKS = flags.DEFINE_list("tasks", None, "harness: lm-evaluation-harness tasks, e.g. heldout_continuation")
_NUM_FEWSHOT = flags.DEFINE_integer("num_fewshot", None, "harness: examples before each question (default: the task's)")
_LIMIT = flags.DEFINE_float("limit", None, "harness: at most this many examples per task (< 1: this fraction)")
_HARNESS_BATCH_SIZE = flags.DEFINE_integer("harness_batch_size", 16, "harness: requests per compiled call")
_INCLUDE_PATH = flags.DEFINE_multi_string(
    "include_path", None, "harness: a directory of task YAML files of your own (repeatable)"
)
_BENCH_STEPS = flags.DEFINE_integer(
    "bench_steps", 20, "bench: timed steps (after 3 warm-up steps); 0 compiles only (memory, compile time)"
)
_BENCH_BATCH_SIZES = flags.DEFINE_list("bench_batch_sizes", ["1", "8"], "bench_generate: batch sizes to time")
_BENCH_PROMPT_LEN = flags.DEFINE_integer("bench_prompt_len", 8, "bench_generate: prompt tokens per row")
_BENCH_NEW_TOKENS = flags.DEFINE_integer("bench_new_tokens", 32, "bench_generate: tokens generated per row")
_SWEEP_INDEX = flags.DEFINE_integer(
    "sweep_index", None, "sweep: run only this variant (default: all; SLURM_ARRAY_TASK_ID when set)"
)
_METRIC = flags.DEFINE_string("metric", None, "collate: another metric for the table and plot, e.g. eval/accuracy")
_COMPARE_TO = flags.DEFINE_string("compare_to", None, "compare: the workdir to set beside --workdir")
_TRACEBACK = flags.DEFINE_bool("traceback", False, "show the full traceback of input errors")
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None, "several processes: host:port of process 0 (with --num_processes, --process_id)"
)
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "several processes: how many in all")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "several processes: this one's index, 0 first")
_DISTRIBUTED = flags.DEFINE_bool(
    "distributed", False, "several processes, from the cluster's environment (SLURM, TPU pods): jax.distributed"
)


def parse_flags(argv: list[str]):
    """absl parsing, with experiments/default.py when no --config is given and a one-paragraph error
    (not a traceback, unless --traceback) for a missing or broken experiment file, unknown config keys and
    values of the wrong type."""
    asks_help = any(arg in ("--help", "-h", "--helpfull", "--helpshort") for arg in argv[1:])
    if not any(re.match(r"^--?config(=|$)", arg) for arg in argv[1:]):
        if asks_help and not os.path.isfile(DEFAULT_CONFIG):
            return flags.FLAGS(argv)  # absl prints the flags and exits
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


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}; flags take the form --name=value.")
    if _BENCH_STEPS.value < 0:
        sys.exit(f"error: --bench_steps={_BENCH_STEPS.value} must be >= 0 (0 compiles the step without running it).")
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # orbax logs every file it writes at INFO
    widen_cpu_thread_pool(os.environ)
    import jax

    from lm import bench, collate, console, modes, parallel, sweep, train, verify

    try:  # before any other JAX call
        parallel.initialize_distributed(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value, _DISTRIBUTED.value)
    except ValueError as e:
        sys.exit(f"error: {e}")

    cache = os.path.expanduser(os.environ.get("LM_COMPILATION_CACHE", "~/.cache/lm/jax"))
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)

    config, workdir = configured(), workdir_flag()
    try:
        if _MODE.value == "train":
            train.train(config, workdir)
        elif _MODE.value == "eval":
            modes.evaluate(config, workdir)
        elif _MODE.value == "sample":
            modes.sample(config, workdir, _PROMPT.value)
        elif _MODE.value == "score":
            modes.score(config, workdir, read_text(_TEXT.value, _TEXT_FILE.value))
        elif _MODE.value == "export":
            if not _OUT.value:
                raise ValueError("--mode=export needs --out=DIR, the directory for the Hugging Face files.")
            modes.export(config, workdir, _OUT.value)
        elif _MODE.value == "harness":
            options = (_NUM_FEWSHOT.value, _LIMIT.value, _HARNESS_BATCH_SIZE.value, _INCLUDE_PATH.value or [])
            modes.harness(config, workdir, _TASKS.value, *options)
        elif _MODE.value == "sweep":
            variants = sweep.select(sweep.expand(experiment_sweep()), _SWEEP_INDEX.value)
            statuses = sweep.run(config, workdir, variants, train.train)
            console.log(sweep.summary(statuses))
            if any(s["status"] == "failed" for s in statuses):
                sys.exit(1)
        elif _MODE.value == "collate":
            collate.collate(workdir, _METRIC.value)
        elif _MODE.value == "compare":
            if not _COMPARE_TO.value:
                raise ValueError("--mode=compare needs --compare_to=DIR, the workdir to set beside --workdir.")
            console.log(collate.compare(workdir, _COMPARE_TO.value))
        elif _MODE.value == "verify":
            results = [verify.verify(config, workdir, c, train.train) for c in experiment_contracts()]
            if not all(results):
                sys.exit(1)
        elif _MODE.value == "bench":  # reads and writes no workdir
            bench.bench(config, steps=_BENCH_STEPS.value)
        else:
            batch_sizes = [int(b) for b in _BENCH_BATCH_SIZES.value]
            modes.bench_generate(config, batch_sizes, _BENCH_PROMPT_LEN.value, _BENCH_NEW_TOKENS.value)
    except ValueError as e:  # lm raises ValueError for bad input, with the problem and the fix
        if _TRACEBACK.value:
            raise
        sys.exit(f"error: {e}")
    except train.Preempted as e:  # the step reached is saved: exit as a signalled process would
        print(str(e), file=sys.stderr, flush=True)
        sys.exit(128 + signal.Signals[e.signal_name].value)
    except KeyboardInterrupt as e:  # a second signal while the first was being handled
        sys.exit(
            f"interrupted ({e or 'SIGINT'}): stopped without saving the step in flight; the workdir's last "
            "checkpoint is intact. Run the same command again to continue from it."
        )


def experiment_module():
    from lm import experiment

    return experiment.load(config_spec(sys.argv).partition(":")[0])


def experiment_sweep() -> list:
    """The experiment file's get_sweep(arg)."""
    path, _, arg = config_spec(sys.argv).partition(":")
    module = experiment_module()
    if not hasattr(module, "get_sweep"):
        raise ValueError(
            f"{path} defines no get_sweep(arg): a sweep is a list of config overrides that the experiment file "
            "returns from get_sweep (lm/sweep.py shows one). For a single run, use --mode=train."
        )
    return module.get_sweep(arg) if arg else module.get_sweep()


def experiment_contracts():
    """The experiment file's contracts for its config argument."""
    from lm import experiment

    path, _, arg = config_spec(sys.argv).partition(":")
    contracts = experiment.contracts_of(experiment_module())
    if arg not in contracts:
        have = ", ".join(f"{path}:{a}" for a in contracts) or "none"
        raise ValueError(
            f"{path}{':' + arg if arg else ''} declares no reproduction contract (CONTRACTS[{arg!r}] in the file); "
            f"those it declares: {have}."
        )
    return contracts[arg]


def configured():
    """The parsed experiment config, with the sampling flags (--prompt, --temperature, ...) written into its
    `sample` section."""
    config = _CONFIG.value
    if not isinstance(config, ml_collections.ConfigDict):
        sys.exit(
            f"error: get_config in {config_spec(sys.argv).partition(':')[0]} returned a {type(config).__name__}, "
            "not an ml_collections.ConfigDict. Start from lm.config.default_config() and return it."
        )
    sample_flags = dict(
        num_samples=_NUM_SAMPLES,
        max_new_tokens=_MAX_NEW_TOKENS,
        temperature=_TEMPERATURE,
        top_k=_TOP_K,
        top_p=_TOP_P,
        repetition_penalty=_REPETITION_PENALTY,
        num_beams=_NUM_BEAMS,
        length_penalty=_LENGTH_PENALTY,
        seed=_SAMPLE_SEED,
    )
    for key, flag in sample_flags.items():
        if flag.value is not None:
            config.sample[key] = flag.value
    if _STOP.value:
        config.sample.stop = tuple(_STOP.value)
    if _PROMPT.value:
        config.sample.prompt = _PROMPT.value[0]
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


def read_text(text: str | None, path: str | None) -> str:
    """--text, or the contents of --text_file (exactly one of them)."""
    if (text is None) == (path is None):
        raise ValueError("--mode=score needs the text to score: pass exactly one of --text=... or --text_file=FILE.")
    if text is not None:
        return text
    if not os.path.isfile(path):
        raise ValueError(f"--text_file={path} does not exist (or is not a file). Pass the path of a UTF-8 text file.")
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except UnicodeDecodeError as e:
        raise ValueError(f"--text_file={path} is not UTF-8 text ({e}). Convert it to UTF-8.") from e


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
