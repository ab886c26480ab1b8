#!/usr/bin/env python3
"""Generate the earcon WAVs in audio_assets/ (22050 Hz, 16-bit mono, deterministic).

    python scripts/make_earcons.py [output_dir]

Each earcon is a sum of sine partials under a smooth envelope (raised-cosine attack, exponential
decay, raised-cosine release to exactly zero), so nothing clicks. Peaks are normalized to about
-6 dBFS; the blip that acknowledges a command is quieter on purpose.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 22050
PEAK_DBFS = -6.0


def tone(freq: float, dur: float, decay: float, partials: tuple[float, ...] = (1.0,),
         attack: float = 0.005, release: float = 0.02) -> np.ndarray:
    """One note: `freq` Hz, `dur` s, amplitude decaying with time constant `decay` s.
    `partials` are amplitudes of harmonics 1, 2, 3, ... (a little brightness for a chime)."""
    t = np.arange(int(dur * RATE)) / RATE
    wave = sum(a * np.sin(2 * np.pi * freq * (k + 1) * t) for k, a in enumerate(partials))
    env = np.exp(-t / decay)
    n_att, n_rel = int(attack * RATE), int(release * RATE)
    env[:n_att] *= 0.5 - 0.5 * np.cos(np.pi * np.arange(n_att) / n_att)
    env[len(env) - n_rel:] *= 0.5 + 0.5 * np.cos(np.pi * np.arange(n_rel) / n_rel)
    return wave * env


def sequence(*notes: tuple[float, np.ndarray]) -> np.ndarray:
    """Overlay notes, each starting at its offset (seconds)."""
    end = max(int(at * RATE) + len(n) for at, n in notes)
    out = np.zeros(end)
    for at, n in notes:
        i = int(at * RATE)
        out[i:i + len(n)] += n
    return out


def normalize(x: np.ndarray, peak_dbfs: float = PEAK_DBFS) -> np.ndarray:
    return x * (10 ** (peak_dbfs / 20) / np.abs(x).max())


def earcons() -> dict[str, np.ndarray]:
    bell = (1.0, 0.3, 0.12)  # soft harmonics: a chime, not a beep
    return {
        # A soft wooden tick: short, high, fast decay.
        "rep_start": normalize(tone(1800, 0.035, 0.008, (1.0, 0.2), attack=0.002, release=0.008),
                               -9.0),
        # Two-note chime, falling a fourth (G5 -> D5): "set done".
        "set_end": normalize(sequence((0.0, tone(784.0, 0.45, 0.18, bell)),
                                      (0.16, tone(587.3, 0.6, 0.22, bell)))),
        # A quiet 80 ms blip: "heard you", never in the way of the next cue.
        "command_heard": normalize(tone(1320, 0.08, 0.03, (1.0, 0.1), attack=0.004, release=0.015),
                                   -15.0),
        # Rising two notes (C5 -> G5): "rest is over, get ready".
        "rest_over": normalize(sequence((0.0, tone(523.3, 0.3, 0.15, bell)),
                                        (0.15, tone(784.0, 0.45, 0.2, bell)))),
        # Falling major arpeggio (E5 C5 G4) ending on a longer note.
        "session_end": normalize(sequence((0.0, tone(659.3, 0.4, 0.2, bell)),
                                          (0.18, tone(523.3, 0.4, 0.2, bell)),
                                          (0.36, tone(392.0, 1.0, 0.35, bell)))),
    }


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, audio in earcons().items():
        path = out_dir / f"{name}.wav"
        sf.write(str(path), audio.astype(np.float32), RATE, subtype="PCM_16")
        print(f"{path}  {len(audio) / RATE * 1000:.0f} ms  peak {20 * np.log10(np.abs(audio).max()):.1f} dBFS")


if __name__ == "__main__":
    default = Path(__file__).resolve().parent.parent / "audio_assets"
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
