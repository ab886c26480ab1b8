"""The lifter's own recordings as command templates, for the PocketSphinx and hybrid engines (enrollment).

PocketSphinx's acoustic model mishears many accents ("quit" as "wait", "done" as "go on"), and no
threshold fixes a wrong hypothesis. A lifter who runs `voicecoach enroll` has said each command a
few times; those takes become templates. Every utterance the segmenter passes is compared with
them by dynamic time warping over the frozen speech embeddings the neural engine uses
(`embedding.py`, trained on large amounts of real speech, so the comparison is about what was
said more than about the room), and the nearest template's command is taken when it is near
enough. PocketSphinx still decides whether the utterance is a command at all (the segmenter's
isolation and length gates, the alignment's "no other words", the decoy veto), and still
decides alone for phrases that were not enrolled or utterances no template is near.

How near is near enough is calibrated on the takes themselves: each take's distance to the
nearest other take of the same command (leave one out), scaled by `REACH`.

Stored as one .npz in the user data directory beside the neural head's adaptation (which the
neural and hybrid engines use); `voicecoach enroll --remove` deletes both.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voicecoach.speech_in import embedding
from voicecoach.speech_in.base import SAMPLE_RATE

FILE = "command_templates.npz"
LEAD = 0.6
"""Quiet put before an utterance (seconds): the first embedding needs 0.78 s of context."""
FIRST = 0.3
"""The first window ends this long after the utterance starts (seconds): earlier ones are mostly
the added quiet and look alike for every word."""
LAST = 0.16
"""The last window ends this long after the utterance does (seconds): the word's release."""
HOP = 2
"""Mel frames (10 ms each) between two embeddings of a sequence."""
REACH = 1.5
"""An utterance matches when its distance to a command's nearest template is at most this many
times the largest leave-one-out distance among the kept takes. Chosen on three of the
benchmark's tuning voices (enrolled at 25 dB, then the same phrases at other rates and pitches,
clean, 10 and 5 dB): 47-60 -> 61-67 of 72 recognized, while 35 gym words said alone (clean and
10 dB) fired 0-4 times more out of 70 than without templates."""
OUTLIER = 3.0
"""A take whose leave-one-out distance is over this many times the median of all takes' is
dropped (one bad take of three otherwise set the reach for every command)."""
MIN_TAKES = 2
"""Takes per command needed for its templates (one can't be calibrated)."""


def templates_path() -> Path:
    """Where the lifter's templates live (user data dir; removable)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("voicecoach")) / FILE


def utterance_features(audio: np.ndarray) -> np.ndarray:
    """An utterance (int16 or float, 16 kHz) -> (steps, 96) unit-length speech embeddings, one
    every HOP mel frames across it."""
    x = np.asarray(audio)
    x = x.astype(np.float32) / 32768.0 if x.dtype == np.int16 else x.astype(np.float32)
    lead = int(LEAD * SAMPLE_RATE)
    padded = np.concatenate([np.zeros(lead, np.float32), x, np.zeros(int(LAST * SAMPLE_RATE), np.float32)])
    # A faint floor instead of digital silence, as a microphone would give.
    padded += np.random.default_rng(0).standard_normal(len(padded)).astype(np.float32) * 1e-4
    mel = embedding.mel_frames(padded)
    hop_samples = SAMPLE_RATE // 100
    lo = max(embedding.MEL_PER_EMB, (lead + int(FIRST * SAMPLE_RATE)) // hop_samples)
    hi = max(lo, min(len(mel), len(padded) // hop_samples))
    feats = embedding.embed_windows(mel, range(lo, hi + 1, HOP))
    return feats / (np.linalg.norm(feats, axis=1, keepdims=True) + 1e-9)


def dtw_distances(query: np.ndarray, templates: list[np.ndarray]) -> np.ndarray:
    """Length-normalized dynamic-time-warping distance (cosine) from `query` to each template,
    all templates at once."""
    n, lengths = len(query), np.array([len(t) for t in templates])
    padded = np.zeros((len(templates), lengths.max(), query.shape[1]), np.float32)
    for k, t in enumerate(templates):
        padded[k, : len(t)] = t
    m = padded.shape[1]
    cost = 1.0 - np.einsum("nd,kld->knl", query, padded)
    acc = np.full((len(templates), n + 1, m + 1), np.inf)
    acc[:, 0, 0] = 0.0
    # Cells on one anti-diagonal (i + j = d) depend only on the two before it: one vector step each.
    for d in range(2, n + m + 1):
        i = np.arange(max(1, d - m), min(n, d - 1) + 1)
        j = d - i
        acc[:, i, j] = cost[:, i - 1, j - 1] + np.minimum(
            np.minimum(acc[:, i - 1, j], acc[:, i, j - 1]), acc[:, i - 1, j - 1])
    return acc[np.arange(len(templates)), n, lengths] / (n + lengths)


@dataclass(frozen=True)
class TemplateMatch:
    command: str
    phrase: str
    distance: float
    """To the nearest template of `command`."""
    reach: float
    """The largest distance that counts as a match."""

    @property
    def matched(self) -> bool:
        return self.distance <= self.reach

    @property
    def confidence(self) -> float:
        return round(max(0.0, min(1.0, 1.0 - 0.5 * self.distance / self.reach)), 3)


@dataclass(frozen=True)
class CommandTemplates:
    """One lifter's takes, as embedding sequences, with the distance that counts as a match."""

    commands: tuple[str, ...]
    phrases: tuple[str, ...]
    features: tuple[np.ndarray, ...]
    reach: float

    def match(self, audio: np.ndarray) -> TemplateMatch:
        """The command whose template is nearest to this utterance."""
        d = dtw_distances(utterance_features(audio), list(self.features))
        k = int(np.argmin(d))
        return TemplateMatch(self.commands[k], self.phrases[k], float(d[k]), self.reach)

    def save(self, path: Path | None = None) -> Path:
        path = path or templates_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, commands=np.array(self.commands), phrases=np.array(self.phrases),
                 lengths=np.array([len(f) for f in self.features]), features=np.concatenate(self.features),
                 reach=np.array(self.reach), created=np.array(time.strftime("%Y-%m-%d %H:%M")))
        return path


def cut_take(take: np.ndarray) -> np.ndarray | None:
    """The utterance the live segmenter passes for one recorded take, so a take is cut exactly
    as a command said in a session would be. When it passes none (a short word whose voiced
    part is under `min_speech`), the take's loud part with 0.1 s either side; None for a take
    with nothing in it."""
    from voicecoach.speech_in.segmenter import UtteranceSegmenter

    x = np.asarray(take)
    x = x.astype(np.float32) / 32768.0 if x.dtype == np.int16 else x.astype(np.float32)
    quiet = np.random.default_rng(1).standard_normal(SAMPLE_RATE).astype(np.float32) * 1e-4
    segmenter = UtteranceSegmenter()
    found = segmenter.feed(np.concatenate([quiet, x, quiet])) + segmenter.flush()
    if found:
        return max(found, key=lambda u: u.frames).audio
    env = np.convolve(np.abs(x), np.ones(160) / 160, mode="same")
    loud = np.nonzero(env > 0.1 * env.max())[0] if env.max() > 1e-3 else []
    if not len(loud):
        return None
    margin = SAMPLE_RATE // 10
    return (x[max(0, loud[0] - margin) : loud[-1] + margin] * 32767).astype(np.int16)


def build_templates(takes: dict[str, list[np.ndarray]], command_of: dict[str, str],
                    cut: Callable[[np.ndarray], np.ndarray | None] = cut_take) -> CommandTemplates:
    """Templates from the lifter's takes ({phrase: [audio, ...]}, float or int16 at 16 kHz)."""
    commands, phrases, features = [], [], []
    for phrase, audios in takes.items():
        cuts = [u for u in (cut(a) for a in audios) if u is not None]
        if len(cuts) < MIN_TAKES:
            raise ValueError(f'only {len(cuts)} of {len(audios)} takes of "{phrase}" have any sound in them: '
                             f"check the microphone (voicecoach check-mic)")
        for u in cuts:
            commands.append(command_of[phrase])
            phrases.append(phrase)
            features.append(utterance_features(u))
    loo = []
    for k, f in enumerate(features):
        others = [j for j in range(len(features)) if j != k and commands[j] == commands[k]]
        loo.append(float(np.min(dtw_distances(f, [features[j] for j in others]))))
    # A take unlike the others of its command (cut short, a cough) is dropped, not learned.
    keep = [k for k, d in enumerate(loo) if d <= OUTLIER * float(np.median(loo))]
    return CommandTemplates(tuple(commands[k] for k in keep), tuple(phrases[k] for k in keep),
                            tuple(features[k] for k in keep), REACH * max(loo[k] for k in keep))


def load_templates(path: Path | None = None) -> CommandTemplates | None:
    """The stored templates, or None when there are none; EngineError for a damaged file."""
    from voicecoach.speech_in.engines import EngineError

    path = path or templates_path()
    if not path.exists():
        return None
    try:
        with np.load(path) as z:
            bounds = np.cumsum(z["lengths"])[:-1]
            return CommandTemplates(tuple(str(c) for c in z["commands"]), tuple(str(p) for p in z["phrases"]),
                                    tuple(np.split(z["features"], bounds)), float(z["reach"]))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise EngineError(f"{path}: the enrollment is damaged ({type(exc).__name__}); "
                          f"run `voicecoach enroll` again, or `voicecoach enroll --remove`") from None
