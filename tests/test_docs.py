"""Every `python launch.py ...` command in README.md and docs/ is one the launcher accepts: its experiment file
and argument, its flags, its config keys and their types, and the config they build (lm.config.validate), each
parsed by the launcher's own parser (lm/cli.py) in a process of its own."""

import glob
import json
import os
import re
import shlex
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = [os.path.join(ROOT, "README.md"), *sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))]
# One process imports the launcher once, then parses each command (a JSON list of argvs) in a fork of itself:
# a process of its own per command, as `python launch.py` is, without 60 imports of JAX. A fork's stdout goes
# nowhere and it always leaves by os._exit (a buffer it shares with the parent is never written twice); its
# stderr, the parser's message, comes back on a pipe, and the parent prints a line per command, flushed.
PARSE = """
import json, os, sys
from lm import cli, config
for argv in json.loads(sys.argv[1]):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.dup2(write, 2)
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        code = 0
        try:
            cli.parse_flags(["launch.py", *argv])
            config.validate(cli.configured())
        except SystemExit as e:  # --help (0), or the parser's one-paragraph error (its message)
            code = e.code if isinstance(e.code, int) else int(e.code is not None)
            if isinstance(e.code, str):
                sys.stderr.write(e.code + "\\n")
        except BaseException as e:
            sys.stderr.write(f"{type(e).__name__}: {e}\\n")
            code = 1
        sys.stderr.flush()
        os._exit(code)
    os.close(write)
    with os.fdopen(read) as pipe:
        error = pipe.read().strip().splitlines()[-1:]
    print(json.dumps([os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), error]), flush=True)
"""


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
    runnable = sorted(set(documented) - set(templates))
    argvs = [shlex.split(command)[2:] for command in runnable]
    result = subprocess.run(
        [sys.executable, "-c", PARSE, json.dumps(argvs)], capture_output=True, text=True, cwd=ROOT, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcomes = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("[")]
    assert len(outcomes) == len(runnable), result.stdout[-3000:]
    failed = [f"{documented[c]}: {c}\n  {error}" for c, (code, error) in zip(runnable, outcomes, strict=True) if code]
    assert failed == []
