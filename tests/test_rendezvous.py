"""Several processes meet within a bounded time or stop with an error naming what is missing (lm/rendezvous.py):
flags checked first, process 0 alone, another process alone, a port taken; real launcher processes."""

import os
import socket
import threading
import time

import pytest

from lm import rendezvous
from tests import launcher

SMOKE = f"--config={launcher.ROOT}/experiments/default.py:smoke"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "flags, needle",
    [
        ((None, 2, 1), "--num_processes, --process_id are set but not --coordinator_address"),  # trains alone
        (("127.0.0.1:1234", 2, None), "are set but not --process_id"),
        (("127.0.0.1", 2, 0), "should be HOST:PORT"),
        (("127.0.0.1:99999", 2, 0), "should be HOST:PORT"),
        (("127.0.0.1:1234", 2, 2), r"--process_id=2 must be in 0 .. 1"),
    ],
)
def test_the_flags_are_checked_before_anything_starts(flags, needle):
    with pytest.raises(ValueError, match=needle):
        rendezvous.check_flags(*flags)


def test_processes_meet_and_a_duplicate_or_missing_one_is_named():
    port, results = free_port(), {}

    def start(process_id, num_processes=3, timeout=10.0):
        def go():
            try:
                rendezvous.meet(f"127.0.0.1:{port}", num_processes, process_id, timeout)
                results[process_id] = "met"
            except ValueError as e:
                results[process_id] = str(e)

        thread = threading.Thread(target=go)
        thread.start()
        return thread

    threads = [start(1), start(2)]  # before process 0: they retry until it listens
    time.sleep(0.5)
    threads.append(start(0))
    for t in threads:
        t.join(30)
    assert results == {0: "met", 1: "met", 2: "met"}

    port, results = free_port(), {}
    threads = [start(0, 3, 2.0), start(1, 3, 2.0)]
    for t in threads:
        t.join(30)
    assert "1 never came (--process_id 2)" in results[0] and "processes [2] did not come" in results[1]


def test_a_launcher_alone_stops_within_its_timeout_naming_what_is_missing(tmp_path):
    port = free_port()
    several = [f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2", "--init_timeout=3"]
    # (jax.distributed alone would wait 300 s, then abort the process: the timeout here is 3 s)
    alone = launcher.launch(SMOKE, *several, "--process_id=0", f"--workdir={tmp_path}/a", timeout=120)
    assert alone.returncode == 1 and "waited 3 s" in alone.stderr and "never came (--process_id 1)" in alone.stderr
    assert "Traceback" not in alone.stderr and "Aborted" not in alone.stderr
    no_coordinator = launcher.launch(SMOKE, *several, "--process_id=1", f"--workdir={tmp_path}/b", timeout=120)
    assert no_coordinator.returncode == 1 and "found no process 0" in no_coordinator.stderr
    assert "within 3 s" in no_coordinator.stderr
    assert not os.path.exists(tmp_path / "a") and not os.path.exists(tmp_path / "b")
    with socket.socket() as taken:
        taken.bind(("", port))
        taken.listen()
        busy = launcher.launch(SMOKE, *several, "--process_id=0", f"--workdir={tmp_path}/c", timeout=120)
    assert busy.returncode == 1 and f"cannot listen on port {port}" in busy.stderr
