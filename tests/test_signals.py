"""SIGTERM / SIGINT while training: a request to stop after the step in flight; a second one stops at once."""

import os
import signal

import pytest

from lm.signals import StopRequests


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_becomes_a_request_and_a_second_one_interrupts(signum):
    before = signal.getsignal(signum)
    with StopRequests() as stop:
        assert not stop.requested
        os.kill(os.getpid(), signum)
        assert stop.requested and stop.signal_name == signal.Signals(signum).name
        with pytest.raises(KeyboardInterrupt, match="a second") as second:
            os.kill(os.getpid(), signum)
        assert second.value.signum == signum  # the launcher exits with 128 + it, as the signal's default would
    assert signal.getsignal(signum) is before  # the process's own handlers are back
