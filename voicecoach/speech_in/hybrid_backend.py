"""PocketSphinx and the neural head together: a fusion recognizer (issue 6's "fusions").

The two engines fail differently. The neural head (`neural_backend.py`) hears commands in noise
and on the espeak-ng voices it was trained on, but fires on command words inside speech and
generalizes poorly to other synthesizers; PocketSphinx behind the shared segmenter rejects speech
well (only short utterances after a silence reach it) and generalizes, but its acoustic model
mishears accented voices. So: the segmenter decides *when* something may be a command, exactly
as for PocketSphinx; at that moment the neural head's scores over the utterance decide *which*
when it is sure (`sure`) and PocketSphinx's alignment finds no other words around the phrase,
and otherwise PocketSphinx's own verdict stands unless the head gives that command almost no
weight (`veto`). Both thresholds were chosen on the corpus's tuning split. When the lifter has
enrolled, their own takes (`templates.py`) name the command first, as for PocketSphinx alone.

The head streams over the whole input (with its own echo canceller, as the neural engine does),
so its scores for an utterance are ready when the segmenter closes it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from voicecoach.speech_in.base import Detection
from voicecoach.speech_in.neural_backend import NeuralRecognizer
from voicecoach.speech_in.pocketsphinx_backend import PocketSphinxRecognizer
from voicecoach.speech_in.segmenter import SegmentedRecognizer, Utterance
from voicecoach.speech_in.vocabulary import Vocabulary


@dataclass(frozen=True)
class HybridSettings:
    sure: float = 0.9
    """Neural score at which the head names the command by itself."""
    veto: float = 0.05
    """Below this neural score for PocketSphinx's command, PocketSphinx's verdict is dropped."""
    lead: float = 0.1
    """Head scores from this long before the utterance's speech count too (seconds): its
    80 ms steps and the VAD's onset don't line up exactly."""


class HybridRecognizer(SegmentedRecognizer):
    """CommandRecognizer fusing PocketSphinx (behind the segmenter) and the neural head."""

    name = "hybrid"

    def __init__(self, vocabulary: Vocabulary, settings: HybridSettings = HybridSettings()) -> None:
        self.s = settings
        self._sphinx = PocketSphinxRecognizer(vocabulary)
        self._segmenter = self._sphinx.segmenter
        self._head = NeuralRecognizer(vocabulary)
        # (time, scores) of the last few seconds: longer than any utterance plus its padding.
        self._scores: deque[tuple[float, np.ndarray]] = deque(maxlen=64)

    def feed(self, samples: np.ndarray, playback: np.ndarray | None = None) -> list[Detection]:
        self._scores.extend(self._head.scores(samples, playback))  # first: the utterance's scores are in
        return super().feed(samples, playback)

    def flush(self) -> list[Detection]:
        self._scores.extend(self._head.flush_scores())
        return super().flush()

    def _recognize(self, utterance: Utterance) -> list[Detection]:
        start = utterance.end - utterance.seconds - self._segmenter.s.window - self.s.lead
        window = [sc for t, sc in self._scores if start <= t <= utterance.end]
        best = np.max(window, axis=0) if window else np.zeros(len(self._head.commands))
        k = int(np.argmax(best))
        sphinx = self._sphinx.verdict(utterance)
        # An enrolled lifter's own takes know their voice better than either model.
        enrolled = self._sphinx.template_detection(utterance, sphinx)
        if enrolled is not None:
            return [enrolled]
        # A short sentence ("pause at the top") can make the head sure of a command word in it;
        # PocketSphinx's alignment sees the other words: then the head doesn't decide alone. Nor
        # when PocketSphinx clearly heard a not-command ("nine" is no "done").
        if best[k] >= self.s.sure and (sphinx is None or (sphinx.alone and sphinx.heard_instead is None)):
            command = self._head.commands[k]
            text = sphinx.text if sphinx is not None and sphinx.command == command else command
            return [Detection(command, text, round(float(best[k]), 3), round(utterance.end, 3))]
        if sphinx is None or not sphinx.accepted:
            return []
        if sphinx.command in self._head.commands and best[self._head.commands.index(sphinx.command)] < self.s.veto:
            return []
        return [sphinx.detection]
