"""Several processes meet before jax.distributed starts, within a bounded time, or stop with an error that names
what is missing.

jax.distributed.initialize waits for every process (5 minutes by default) and then aborts the process from
C++ ("Fatal Python error: Aborted"): nothing Python can catch or explain. So the launcher first checks the
flags, then meets the other processes on the coordinator's own port, over plain TCP:

- process 0 listens on the port (refused at once if the port is taken) until every other process has said
  its id, or until `timeout` seconds have passed; then it answers each one "go", or names the ids that never
  came, closes the port and starts jax's coordination service there;
- every other process connects (retrying until `timeout`: process 0 may start later), says its id and waits
  for process 0's answer; then it starts jax.distributed, which connects to the same port.

Only the explicit flags (--coordinator_address, --num_processes, --process_id) meet here; --distributed takes
the cluster's environment as jax reads it.
"""

import socket
import time

DEFAULT_TIMEOUT = 120.0  # seconds, --init_timeout


def check_flags(coordinator: str | None, num_processes: int | None, process_id: int | None) -> tuple[str, int]:
    """(host, port) of a complete, consistent set of the several-process flags.

    Raises:
      ValueError: one missing (a process id without a coordinator trains alone), or out of range.
    """
    given = {"--coordinator_address": coordinator, "--num_processes": num_processes, "--process_id": process_id}
    missing = [name for name, value in given.items() if value is None or value == ""]
    if missing:
        present = [name for name in given if name not in missing]
        raise ValueError(
            f"Several processes need --coordinator_address=HOST:PORT (process 0's), --num_processes and --process_id "
            f"(this process's, 0 first); {', '.join(present)} {'is' if len(present) == 1 else 'are'} set but not "
            f"{', '.join(missing)}. Give all three to each process, or none to train in one."
        )
    host, _, port = coordinator.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(
            f"--coordinator_address={coordinator} should be HOST:PORT, process 0's host and a free port "
            "(e.g. 10.0.0.1:12345)."
        )
    if num_processes < 1:
        raise ValueError(f"--num_processes={num_processes} must be >= 1: the number of processes of the run.")
    if not 0 <= process_id < num_processes:
        raise ValueError(
            f"--process_id={process_id} must be in 0 .. {num_processes - 1} (--num_processes={num_processes}): each "
            "process gets its own, process 0 on the coordinator's host."
        )
    return host, int(port)


def meet(coordinator: str, num_processes: int, process_id: int, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Returns once every process is there (process 0 has heard from all); raises ValueError after `timeout`."""
    host, port = check_flags(coordinator, num_processes, process_id)
    if num_processes == 1:
        return
    if process_id == 0:
        _gather(port, num_processes, timeout, coordinator)
    else:
        _report(host, port, process_id, timeout, coordinator)


def _gather(port: int, num_processes: int, timeout: float, coordinator: str) -> None:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.bind(("", port))
    except OSError as e:
        server.close()
        raise ValueError(
            f"Process 0 cannot listen on port {port} of --coordinator_address={coordinator} ({e.strerror}): another "
            "program (or an earlier run still exiting) holds it. Choose another port for every process."
        ) from e
    server.listen(num_processes)
    peers, deadline = {}, time.monotonic() + timeout
    try:
        while len(peers) < num_processes - 1:
            server.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                connection, _ = server.accept()
            except TimeoutError:
                break
            connection.settimeout(10)
            try:
                peer = int(connection.recv(16).decode().strip())
            except (OSError, ValueError):
                connection.close()
                continue
            if peer in peers or not 0 < peer < num_processes:
                connection.sendall(f"process id {peer} is taken or out of range\n".encode())
                connection.close()
                continue
            peers[peer] = connection
        missing = [i for i in range(1, num_processes) if i not in peers]
        answer = "go\n" if not missing else f"processes {missing} did not come\n"
        for connection in peers.values():
            try:
                connection.sendall(answer.encode())
            except OSError:
                pass
    finally:
        for connection in peers.values():
            connection.close()
        server.close()
    if missing:
        raise ValueError(
            f"Process 0 waited {timeout:.0f} s on {coordinator} for the other {num_processes - 1} processes; "
            f"{len(missing)} never came (--process_id {', '.join(map(str, missing))}). Start every process with the "
            "same --coordinator_address and --num_processes within --init_timeout seconds of each other, or check "
            "that they can reach this host and port."
        )


def _report(host: str, port: int, process_id: int, timeout: float, coordinator: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            connection = socket.create_connection((host, port), timeout=max(deadline - time.monotonic(), 0.01))
            break
        except OSError as e:  # refused (process 0 not listening yet), unreachable, an unknown host
            if isinstance(e, socket.gaierror) or time.monotonic() >= deadline:
                raise ValueError(
                    f"Process {process_id} found no process 0 at --coordinator_address={coordinator} within "
                    f"{timeout:.0f} s ({e}). Start process 0 (--process_id=0) on that host with the same address, "
                    "or fix the address; --init_timeout sets how long the others wait for it."
                ) from e
            time.sleep(0.2)
    with connection:
        try:
            connection.sendall(f"{process_id}\n".encode())
            connection.settimeout(timeout + 10)  # process 0 answers within its own timeout
            answer = connection.recv(256).decode().strip()
        except OSError as e:
            answer = f"no answer ({e})"
    if answer != "go":
        raise ValueError(
            f"Process 0 at {coordinator} did not start the run: {answer or 'it closed the connection'}. Start every "
            "process with the same --coordinator_address and --num_processes, each with its own --process_id."
        )
