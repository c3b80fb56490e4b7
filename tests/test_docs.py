"""Every `python launch.py ...` command in README.md and docs/ is one the launcher accepts: its experiment file
and argument, its flags, its config keys and their types, and the config they build (lm.config.validate), each
parsed by the launcher's own parser (lm/cli.py) in a process of its own."""

import glob
import os
import re
import shlex
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = [os.path.join(ROOT, "README.md"), *sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))]
PARSE = "import sys; from lm import cli, config; cli.parse_flags(sys.argv); config.validate(cli.configured())"


def commands(text: str) -> list[str]:
    """The launch.py commands of a page: in code blocks (with their `\\` continuations) and in backticks."""
    found = []
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("    python launch.py"):
            command = line.strip()
            while command.endswith("\\"):
                i += 1
                command = command[:-1] + " " + lines[i].strip()
            found.append(command)
    found += re.findall(r"`(python launch\.py[^`]*)`", text)
    return [re.sub(r"\s+#.*$", "", c).strip() for c in found]


def test_every_documented_command_parses():
    documented = {c: os.path.relpath(page, ROOT) for page in PAGES for c in commands(open(page).read())}
    templates = [c for c in documented if "..." in c]  # `--config=...`: a command to complete, not to run
    assert len(documented) > 30 and len(templates) < 10
    failed = []
    for command in sorted(set(documented) - set(templates)):
        argv = shlex.split(command)[2:]
        result = subprocess.run(
            [sys.executable, "-c", PARSE, *argv], capture_output=True, text=True, cwd=ROOT, timeout=120
        )
        if result.returncode != 0:
            failed.append(f"{documented[command]}: {command}\n  {result.stderr.strip().splitlines()[-1:]}")
    assert failed == []
