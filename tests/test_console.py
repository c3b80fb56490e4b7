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
