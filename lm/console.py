"""What a run tells its user: every line the library prints goes through here.

One place decides who prints, so that a run over several hosts (jax.distributed) prints from its first
process only: `log` writes on process 0 and is silent on the others.
"""

import sys

import jax


def log(text: str) -> None:
    """Prints `text` (one or more lines) on the first process, flushed at once (progress is read live)."""
    if jax.process_index() == 0:
        print(text, file=sys.stdout, flush=True)
