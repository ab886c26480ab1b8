"""Running the voicecoach command as a child process, as a user's shell would."""

from __future__ import annotations

import signal
import sys

VOICECOACH = [sys.executable, "-m", "voicecoach.cli"]


def default_sigint() -> None:
    """In the child, before it starts: Ctrl-C's signal acts as in a terminal. A test run started
    in the background inherits SIGINT ignored, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
