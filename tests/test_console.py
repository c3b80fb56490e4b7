"""The console: every line printed on process 0, none on the other processes of a multi-host run."""

import logging
import sys
import types
import warnings

import jax

from lm import console


def test_lines_print_on_the_first_process_only(capsys, monkeypatch):
    console.log("step 1\nstep 2")
    assert capsys.readouterr().out == "step 1\nstep 2\n"
    monkeypatch.setattr(jax, "process_index", lambda: 1)
    console.log("from the second host")
    assert capsys.readouterr().out == ""


def test_the_library_prints_through_the_console_only():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[1] / "lm"
    printing = [
        str(path.relative_to(root.parent))
        for path in root.rglob("*.py")
        # the command line (cli.py) reports a preempted run's exit on stderr, from every process
        if path.name not in ("console.py", "cli.py") and re.search(r"(?<![\w.])print\(", path.read_text())
    ]
    assert printing == []


def test_what_libraries_print_on_a_failed_checkpoint_write_is_left_out_and_nothing_else(monkeypatch):
    """launch.py's quiet_library_noise: orbax's error records, TensorStore's closed-event-loop errors and JAX's
    cache warnings go; our own records, other unraisable errors and other warnings stay."""
    passed_on = []
    monkeypatch.setattr(sys, "unraisablehook", passed_on.append)
    absl = logging.getLogger("absl")
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        console.quiet_library_noise()
        try:
            code = {}  # a coroutine of orbax's ("Exception ignored in: <coroutine ...>" when it is dropped)
            exec(compile("async def write():\n    pass\n", "/site/orbax/checkpoint/serialization.py", "exec"), code)
            orbax_coroutine = code["write"]()
            for error, source in (
                (RuntimeError("Event loop is closed"), None),
                (RuntimeError("cancelled"), orbax_coroutine),
                (KeyError("ours"), None),
            ):
                sys.unraisablehook(types.SimpleNamespace(exc_value=error, exc_type=type(error), object=source))
            orbax_coroutine.close()
            orbax_error = logging.LogRecord("absl", logging.ERROR, "/site/orbax/checkpoint/future.py", 1, "x", (), None)
            ours = logging.LogRecord("absl", logging.ERROR, "/work/lm/train.py", 1, "x", (), None)
            orbax_info = logging.LogRecord("absl", logging.INFO, "/site/orbax/checkpoint/future.py", 1, "x", (), None)
            kept = [bool(absl.filter(r)) for r in (orbax_error, ours, orbax_info)]
            warnings.warn("Error writing persistent compilation cache entry for 'jit_step': OSError", stacklevel=1)
            warnings.warn("a warning of ours", stacklevel=1)
        finally:
            for name in ("absl", "asyncio"):
                logging.getLogger(name).removeFilter(console._drop_reported_records)
    assert [u.exc_value.args for u in passed_on] == [("ours",)]
    assert kept == [False, True, True]
    assert [str(w.message) for w in shown] == ["a warning of ours"]


def test_progress_is_a_bar_on_a_terminal_of_the_first_process_and_nothing_elsewhere(monkeypatch, capsys):
    items = range(5)
    assert console.progress(items, "eval") is items  # not a terminal (pytest captures stdout): as they are
    monkeypatch.setattr(console, "interactive", lambda: True)
    assert list(console.progress(items, "eval", total=5)) == [0, 1, 2, 3, 4]
    bar = capsys.readouterr().out
    assert "eval:" in bar and "0/5" in bar  # tqdm's description and count, cleared at the end (leave=False)
    monkeypatch.setattr(jax, "process_index", lambda: 1)
    assert console.progress(items, "eval") is items


def test_the_eval_and_the_decoding_report_their_progress(tiny_config, monkeypatch):
    from lm import run as run_lib

    shown = []
    monkeypatch.setattr(console, "progress", lambda items, what, total=None: shown.append(what) or items)
    tiny_config.objective, tiny_config.data.task, tiny_config.data.task_examples = "seq2seq", "reverse", 100
    tiny_config.data.source_len = tiny_config.data.seq_len = 8
    tiny_config.evals, tiny_config.eval_decode.num_examples = "perplexity,exact_match", 4
    run = run_lib.prepare(tiny_config, None, restore="never")
    evaluators = run_lib.make_evaluators(run)
    for evaluator in evaluators:
        evaluator.run(run.runner.put_state(run.state))
    assert shown == ["eval (perplexity)", "decoding 4 eval sources"]
