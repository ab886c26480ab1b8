"""The live path for real: PortAudio streams on ALSA's null device (no sound card needed), the
microphone listener running on its silent input, keys typed into a pseudo-terminal, Ctrl-C."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import time

import pytest
from process_helpers import VOICECOACH, default_sigint

from voicecoach.storage import HistoryStore

ASOUNDRC = """
pcm.!default { type plug slave.pcm "nullpcm" }
pcm.nullpcm { type null }
"""


@pytest.fixture
def null_sound_home(tmp_path):
    """A HOME whose ALSA config offers a null speaker and microphone (silence in, discard out)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".asoundrc").write_text(ASOUNDRC)
    env = dict(os.environ, HOME=str(home), XDG_CACHE_HOME=str(tmp_path / "cache"),
               XDG_DATA_HOME=str(tmp_path / "data"))
    return env


def wait_for(predicate, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def log_has(log, text):
    return log.exists() and text in log.read_text()


def test_devices_lists_the_null_device(null_sound_home):
    out = subprocess.run(VOICECOACH + ["devices"], capture_output=True, text=True, env=null_sound_home)
    assert out.returncode == 0 and "nullpcm" in out.stdout


def test_ctrl_c_mid_session_prints_the_summary_keeps_the_log_and_exits_130(tmp_path, null_sound_home):
    log, db = tmp_path / "live.jsonl", tmp_path / "history.sqlite3"
    proc = subprocess.Popen(VOICECOACH + ["session", "--no-setup", "--sets", "1", "--reps", "2", "--log", str(log),
                                          "--history-db", str(db)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=null_sound_home, preexec_fn=default_sigint)
    assert wait_for(lambda: log_has(log, '"cue"'))
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and stdout.startswith("Session over.")
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert events[0]["text"] == "session start" and events[-1]["event"] == "summary"
    sessions = HistoryStore(db).recent_sessions()
    assert len(sessions) == 1 and sessions[0].info.stopped_early


def test_keys_in_a_terminal_drive_the_live_session(tmp_path, null_sound_home):
    log = tmp_path / "live.jsonl"
    master, slave = pty.openpty()
    proc = subprocess.Popen(VOICECOACH + ["session", "--no-setup", "--sets", "1", "--reps", "3", "--log", str(log),
                                          "--history-db", str(tmp_path / "h.sqlite3"), "--keyboard"],
                            stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=null_sound_home)
    os.close(slave)
    try:
        assert wait_for(lambda: log_has(log, '"cue"'))
        os.write(master, b"s")  # status
        assert wait_for(lambda: log_has(log, '"text": "status"'), timeout=30)
        os.write(master, b"q")  # stop
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    commands = [json.loads(line)["text"] for line in log.read_text().splitlines() if '"command"' in line]
    assert commands == ["status", "stop"]
    assert "Stopping the session." in log.read_text()
    assert stdout.startswith("Session over.")
