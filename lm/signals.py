"""Stopping a training run cleanly: SIGTERM (a scheduler's preemption) or SIGINT (Ctrl-C) asks the loop to
stop after the step in flight; the loop then saves that step's checkpoint and ends (lm/train.py).

A second signal while the first is being handled stops at once, as the default handlers would
(`SecondSignal`): the checkpoint being written then completes or not, and the one before it is intact.
"""

import signal


class SecondSignal(KeyboardInterrupt):
    """A second SIGTERM / SIGINT while the first one's checkpoint was being written."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"a second {signal.Signals(signum).name} while saving")


class StopRequests:
    """While entered, SIGTERM and SIGINT set `signal_name` instead of ending the process."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.signal_name: str | None = None
        self._previous = {}

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def __enter__(self) -> "StopRequests":
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def _handle(self, signum, frame) -> None:
        if self.requested:  # the second one: no more waiting
            raise SecondSignal(signum)
        self.signal_name = signal.Signals(signum).name
