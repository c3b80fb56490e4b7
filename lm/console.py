"""What a run tells its user: every line the library prints goes through here.

One place decides who prints, so that a run over several hosts (jax.distributed) prints from its first
process only: `log` writes on process 0 and is silent on the others. And what the libraries print besides
when a checkpoint fails to save or to read (a full disk, a damaged file) is left out: the library raises or
warns about each such failure in one sentence of its own (lm/checkpoint.py), where orbax and TensorStore's
asynchronous writers print a traceback from every thread and coroutine that saw it (hundreds of lines).
"""

import logging
import os
import sys
import warnings

import jax


def log(text: str) -> None:
    """Prints `text` (one or more lines) on the first process, flushed at once (progress is read live)."""
    if jax.process_index() == 0:
        print(text, file=sys.stdout, flush=True)


def progress(items, what: str, total: int | None = None):
    """`items`, drawn as a progress bar (tqdm: done, rate, time left) on the first process when stdout is a
    terminal; as they are otherwise (a log file, CI, a pipe, the other hosts), where a bar would be noise."""
    if jax.process_index() != 0 or not interactive():
        return items
    from tqdm import tqdm

    return tqdm(items, desc=what, total=total, leave=False, file=sys.stdout, dynamic_ncols=True)


def interactive() -> bool:
    """Whether stdout is a terminal that someone watches."""
    return sys.stdout.isatty()


def quiet_library_noise() -> None:
    """Leaves out what orbax, TensorStore, asyncio and JAX's compilation cache print about a failed read or
    write that this library reports itself (launch.py without --traceback):
      - orbax's error log records (each with the traceback of a background thread), asyncio's "exception was
        never retrieved" for the coroutines of a failed save;
      - "Exception ignored in: <coroutine ...>" and "Event loop is closed" from TensorStore's callbacks into
        an event loop orbax has already closed (sys.unraisablehook);
      - "coroutine ... was never awaited" at exit, for the writes of a failed save that never started;
      - JAX's warning for each compiled function it could not write to its persistent cache (a full disk),
        or read back from it (an entry the full disk cut short): it compiles the function again.
    """
    for name in ("absl", "asyncio"):  # orbax logs through absl's logger
        logging.getLogger(name).addFilter(_drop_reported_records)
    warnings.filterwarnings("ignore", message="Error (writing|reading) persistent compilation cache entry")
    warnings.filterwarnings("ignore", message="coroutine '.*' was never awaited", category=RuntimeWarning)
    sys.unraisablehook = _unraisable_hook(sys.unraisablehook)


def _drop_reported_records(record: logging.LogRecord) -> bool:
    from_orbax = f"{os.sep}orbax{os.sep}" in record.pathname and record.levelno >= logging.ERROR
    return not (from_orbax or record.name == "asyncio")


def _unraisable_hook(original):
    def hook(unraisable) -> None:
        closed_loop = isinstance(unraisable.exc_value, RuntimeError) and "Event loop is closed" in str(
            unraisable.exc_value
        )
        code = getattr(unraisable.object, "cr_code", None)  # a coroutine's
        if closed_loop or (code is not None and any(f"{os.sep}{n}{os.sep}" in code.co_filename for n in LIBRARIES)):
            return
        original(unraisable)

    return hook


LIBRARIES = ("orbax", "tensorstore")  # whose coroutines' unraisable errors a failed checkpoint read or write leaves
