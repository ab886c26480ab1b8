"""`voicecoach enroll` from recordings: the adaptation is stored in the user data dir and removable."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import soundfile as sf

from speech_helpers import RATE, add_noise, say
from voicecoach.listening import enrollment_phrases, take_file_name
from process_helpers import VOICECOACH



def test_enroll_from_recordings_then_remove(tmp_path):
    takes = tmp_path / "takes"
    takes.mkdir()
    for phrase in enrollment_phrases():
        for n, speed in enumerate((130, 170), start=1):
            x = np.concatenate([np.zeros(4000, np.float32), say(phrase, "en-gb-scotland", speed) * 0.05,
                                np.zeros(4000, np.float32)])
            sf.write(str(takes / take_file_name(phrase, n)), add_noise(x, 25, seed=n), RATE)
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"))
    out = subprocess.run(VOICECOACH + ["enroll", "--from-dir", str(takes), "--takes", "2"],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    stored = [f for name in ("neural_enrollment.npz", "command_templates.npz")
              for f in (tmp_path / "data").rglob(name)]
    assert len(stored) == 2 and all(str(f) in out.stdout for f in stored)
    out = subprocess.run(VOICECOACH + ["enroll", "--remove"], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and "removed" in out.stdout and not any(f.exists() for f in stored)
    out = subprocess.run(VOICECOACH + ["enroll", "--remove"], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and "no enrollment" in out.stdout


def test_missing_recording_is_one_line(tmp_path):
    out = subprocess.run(VOICECOACH + ["enroll", "--from-dir", str(tmp_path), "--takes", "2"],
                         capture_output=True, text=True, env=dict(os.environ, XDG_DATA_HOME=str(tmp_path / "d")))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "ready-1.wav" in out.stderr


def test_silent_takes_are_one_line_and_store_nothing(tmp_path):
    takes = tmp_path / "takes"
    takes.mkdir()
    for phrase in enrollment_phrases():
        for n in (1, 2):
            sf.write(str(takes / take_file_name(phrase, n)), np.zeros(RATE, np.float32), RATE)
    out = subprocess.run(VOICECOACH + ["enroll", "--from-dir", str(takes), "--takes", "2"],
                         capture_output=True, text=True, env=dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data")))
    assert out.returncode == 1 and "Traceback" not in out.stderr and "have any sound" in out.stderr
    assert not list((tmp_path / "data").rglob("*.npz"))
