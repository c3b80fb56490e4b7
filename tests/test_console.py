"""The console: every line printed on process 0, none on the other processes of a multi-host run."""

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
