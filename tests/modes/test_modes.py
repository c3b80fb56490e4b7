"""lm/modes: every file is a mode of the table, and the launcher's help lists the modes and each mode's flags."""

import os
import pathlib
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_help_lists_the_modes_and_a_mode_its_own_flags():
    def help_text(*args):
        result = subprocess.run(
            [sys.executable, "launch.py", *args], capture_output=True, text=True, cwd=ROOT, timeout=120
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    general = help_text("--help")
    assert "  bench_generate  generation speed" in general and "--coordinator_address" in general
    assert "--temperature" not in general and "--text_file" not in general
    sample = help_text("--mode=sample", "--help")
    assert "--temperature" in sample and "--workdir" in sample and "--text_file" not in sample
    assert "It has no flags of its own." in help_text("--mode", "verify", "-h")
    everything = help_text("--helpfull")
    assert all(f"--{flag}" in everything for flag in ("temperature", "text_file", "compare_to", "sweep_index"))


def test_every_file_of_lm_modes_is_a_mode_of_the_table():
    from lm.modes import MODES

    files = {p.stem for p in (pathlib.Path(ROOT) / "lm" / "modes").glob("*.py")} - {"__init__"}
    assert {module.__name__.rsplit(".", 1)[1] for module in MODES.values()} == files
    assert all(callable(module.run) and module.__doc__.startswith(f"--mode={name}") for name, module in MODES.items())
