"""PocketSphinx 5 as a streaming command recognizer, with rejection.

A plain grammar maps every sound to some command, so a hypothesis is only accepted when:
1. the utterance is short and isolated: the endpointer found silence on both sides and the
   speech between lasted at most `max_speech` seconds (a command inside a sentence makes a long
   segment);
2. the command grammar beats a garbage decoder of the same frames (a loop of common
   non-command words, or the phone loop) by `threshold` per second: a likelihood-ratio test;
3. the grammar's alignment leaves at most `max_silence` seconds as "silence": a command said
   inside a short sentence ("pause at the top") leaves the other words to be explained as
   silence;
4. the hypothesis is a whole phrase of the vocabulary (bestpath is off: with a grammar it
   often returns a fragment, "what" for "wait").
Each utterance is decoded once it has ended, scaled to a fixed level first.

The command is committed as soon as the endpointer sees the end of speech (`window` seconds of
silence), and `detected_at` is that moment in audio time from the stream start.

Audio is consumed in fixed 30 ms frames whatever the chunking, so results are chunk-size
independent. If the caller passes `playback` (what the coach played over the same span),
echo is cancelled first and acceptance is stricter while the coach is talking.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from voicecoach.speech_in.base import SAMPLE_RATE, Detection
from voicecoach.speech_in.echo import EchoCanceller, to_float
from voicecoach.speech_in.vocabulary import Vocabulary

FRAME = 480
"""Samples per endpointer frame (30 ms); everything downstream works on these."""


@dataclass(frozen=True)
class SphinxSettings:
    window: float = 0.3
    """Endpointer decision window (seconds): silence needed to end an utterance."""
    vad_mode: int = 3
    """Endpointer VAD aggressiveness 0..3; 3 keeps steady noise (fans) out of speech segments."""
    min_speech: float = 0.15
    """Shorter segments are clicks or plates, not words (seconds)."""
    max_speech: float = 1.6
    """Longer segments are sentences, not commands (seconds, endpointer padding included)."""
    garbage: str = "words"
    """The free decoding a command must beat: "words" (a loop of common non-command words)
    or "phones" (PocketSphinx's phone loop)."""
    target_rms: float = 0.1
    """Utterances are scaled to this RMS level (full scale = 1) before decoding."""
    max_silence: float = 0.3
    """Most the grammar path may label silence inside the segment (seconds): a command said in
    a sentence leaves the other words to be explained as 'silence' by the grammar."""
    threshold: float = 0.05
    """Minimum per-second log-score of the command grammar minus the garbage decoding
    (higher = stricter). Tuned on the corpus's tuning split only."""
    echo_margin: float = 0.05
    """Added to the threshold, per unit of echo share, while the coach is talking."""
    echo_ratio_gate: float = 0.02
    """While the coach plays, an utterance's energy after cancellation must exceed this share
    of the echo energy the canceller removed, or it is taken for residual echo."""


def _silence_logs() -> None:
    """PocketSphinx logs to stderr by default; stdout must stay clean for `listen`."""
    import pocketsphinx

    try:
        pocketsphinx.set_loglevel("FATAL")
    except Exception:  # older builds lack set_loglevel; loglevel= on each Decoder covers them
        pass


def _model_paths() -> tuple[str, str, str]:
    import pocketsphinx

    base = pocketsphinx.get_model_path()
    return (
        os.path.join(base, "en-us", "en-us"),
        os.path.join(base, "en-us", "cmudict-en-us.dict"),
        os.path.join(base, "en-us", "en-us-phone.lm.bin"),
    )


# Common English words (general, not taken from any test or benchmark text): the garbage
# path. Speech that is not a command is better explained by a string of these than by a
# command padded with silence, so the decoder itself rejects it.
FILLER_WORDS = """
the a an and or but to of in on at for with from by about as into over under after before
is are was were be been being have has had do does did will would could should might must
you your he she it we they me him her us them my his its our their this these those there
here when where why who which not no yes very just more most some any all each every other
one two three four five six seven eight nine ten first last time day week year people
good great right well back up out off get got make made take took see look come came know
think want need feel like keep going work way down long little big new old same different
bar bench weight hips feet knees floor set rep reps top bottom push drive squeeze lower
chin tuck press breathe brace hand hands shoulder shoulders body muscle form position
water music coffee car home bus friend today tomorrow night morning really thing things
""".split()


def grammar_jsgf(vocabulary: Vocabulary) -> str:
    """A JSGF grammar accepting exactly one phrase of the vocabulary."""
    alts = " | ".join(sorted(vocabulary.phrases))
    return f"#JSGF V1.0;\ngrammar commands;\npublic <command> = {alts} ;\n"


def filler_jsgf(vocabulary: Vocabulary) -> str:
    """A JSGF grammar for 'anything else': any string of common non-command words."""
    vocab_words = vocabulary.words()
    known = dictionary_words()
    garbage = sorted({w for w in FILLER_WORDS if w not in vocab_words and w in known})
    return f"#JSGF V1.0;\ngrammar filler;\npublic <filler> = ({' | '.join(garbage)})+ ;\n"


def dictionary_words() -> set[str]:
    """Every word the shipped PocketSphinx dictionary can pronounce (lowercase)."""
    _, dic, _ = _model_paths()
    words = set()
    with open(dic, encoding="utf-8") as fh:
        for line in fh:
            head = line.split(" ", 1)[0]
            words.add(head.split("(", 1)[0])
    return words


def check_vocabulary(vocabulary: Vocabulary) -> None:
    """Raise VocabularyError for words PocketSphinx can't pronounce."""
    known = dictionary_words()
    vocabulary.check_words(lambda w: w in known, "PocketSphinx dictionary (CMUdict)")


class PocketSphinxRecognizer:
    """Streaming CommandRecognizer over PocketSphinx 5 with rejection and echo handling.

    `playback`, when given, may be int16 or float32 in [-1, 1]; it must be the samples the coach
    played over exactly the same span as `samples`, at 16 kHz.
    """

    name = "pocketsphinx"

    def __init__(self, vocabulary: Vocabulary, settings: SphinxSettings = SphinxSettings()) -> None:
        import pocketsphinx as ps

        _silence_logs()
        check_vocabulary(vocabulary)
        self.vocabulary = vocabulary
        self.s = settings
        hmm, dic, phone_lm = _model_paths()
        common = dict(hmm=hmm, dict=dic, lm=None, samprate=SAMPLE_RATE, loglevel="FATAL")
        self._grammar = ps.Decoder(bestpath=False, **common)
        self._grammar.add_jsgf_string("commands", grammar_jsgf(vocabulary))
        self._grammar.activate_search("commands")
        if settings.garbage == "phones":
            self._phones = ps.Decoder(allphone=phone_lm, bestpath=False, **common)
        else:
            self._phones = ps.Decoder(bestpath=False, **common)
            self._phones.add_jsgf_string("filler", filler_jsgf(vocabulary))
            self._phones.activate_search("filler")
        self._ep = ps.Endpointer(window=settings.window, vad_mode=settings.vad_mode)
        assert self._ep.frame_bytes == FRAME * 2
        self._pending = np.zeros(0, np.int16)
        self._pending_ref = np.zeros(0, np.float32)
        self._frames = 0  # frames consumed: the audio clock
        self._aec: EchoCanceller | None = None
        self._frame_energy = (0.0, 0.0)
        self._warm = False
        self.trace: list[tuple] | None = None
        """Set to [] to record (time, hypothesis, ratio, frames, echo) per utterance (tuning)."""
        self._reset_segment()

    # -- streaming ---------------------------------------------------------------------------
    def feed(self, samples: np.ndarray, playback: np.ndarray | None = None) -> list[Detection]:
        samples = np.asarray(samples)
        if samples.dtype != np.int16:
            samples = (np.clip(to_float(samples), -1, 1) * 32767).astype(np.int16)
        if playback is not None:
            if len(playback) != len(samples):
                raise ValueError("playback must be as long as samples")
            ref = to_float(np.asarray(playback))
        else:
            ref = np.zeros(len(samples), np.float32)
        self._pending = np.concatenate([self._pending, samples])
        self._pending_ref = np.concatenate([self._pending_ref, ref])
        out: list[Detection] = []
        n = len(self._pending) // FRAME
        for i in range(n):
            frame = self._pending[i * FRAME : (i + 1) * FRAME]
            ref_frame = self._pending_ref[i * FRAME : (i + 1) * FRAME]
            out.extend(self._frame(frame, ref_frame))
        self._pending = self._pending[n * FRAME :]
        self._pending_ref = self._pending_ref[n * FRAME :]
        return out

    def flush(self) -> list[Detection]:
        """End of stream: pad the last partial frame with silence and close any utterance."""
        out: list[Detection] = []
        if len(self._pending):
            pad = FRAME - len(self._pending)
            out.extend(self.feed(np.zeros(pad, np.int16), np.zeros(pad, np.float32)))
        # Enough silence for the endpointer to close an utterance still open at the end.
        silence = np.zeros(FRAME, np.int16)
        for _ in range(int(self.s.window / 0.03) + 2):
            if not self._ep.in_speech:
                break
            out.extend(self._frame(silence, np.zeros(FRAME, np.float32)))
        return out

    @property
    def time(self) -> float:
        """Audio seconds consumed so far."""
        return self._frames * FRAME / SAMPLE_RATE

    # -- internals ---------------------------------------------------------------------------
    def _reset_segment(self) -> None:
        self._seg_frames = 0
        self._seg_too_long = False
        self._seg_echo = 0.0  # frames where the coach's echo dominated
        self._seg_active = False
        self._seg_audio: list[np.ndarray] = []
        self._seg_unsure = False
        self._seg_clean_e = 0.0  # energy left after echo cancellation, while the coach played
        self._seg_echo_e = 0.0  # energy of the echo the canceller predicted (and removed)

    def _frame(self, frame: np.ndarray, ref: np.ndarray) -> list[Detection]:
        self._frames += 1
        echo_share = 0.0
        if self._aec is None and np.any(ref):
            self._aec = EchoCanceller()  # from the first sound the coach plays, for good
        if self._aec is not None:
            b = self._aec.s.block
            mic = frame.astype(np.float32) / 32768.0
            parts, echo_e = [], 0.0
            for k in range(0, FRAME, b):
                parts.append(self._aec.process_block(mic[k : k + b], ref[k : k + b]))
                echo_e += self._aec.echo_level / (FRAME // b)
            clean = np.concatenate(parts)
            clean_e = float(np.mean(clean.astype(np.float64) ** 2)) + 1e-12
            # Share of this frame the coach's echo (predicted, before cancellation) could explain.
            echo_share = min(1.0, echo_e / clean_e)
            self._frame_energy = (clean_e, echo_e)
            if not self._aec.converged and float(np.mean(ref.astype(np.float64) ** 2)) > 1e-6:
                # The canceller hasn't learned the room yet: echo can't be told from a lifter,
                # so speech overlapping the coach is ignored until it has (~2 s of playback).
                self._seg_unsure = True
            frame = (np.clip(clean, -1, 1) * 32767).astype(np.int16)
        clean_e, echo_e = self._frame_energy
        self._frame_energy = (0.0, 0.0)
        was_in_speech = self._ep.in_speech
        speech = self._ep.process(frame.tobytes())
        if speech is not None:
            if not was_in_speech and not self._seg_active:
                self._reset_segment()
                self._seg_active = True
            if self._seg_active and not self._seg_too_long:
                self._seg_frames += 1
                self._seg_echo += echo_share
                self._seg_clean_e += clean_e
                self._seg_echo_e += echo_e
                if self._seg_frames * 0.03 > self.s.max_speech:
                    # A sentence, not a command: drop it (and save the CPU of decoding it).
                    self._seg_too_long = True
                    self._seg_audio = []
                else:
                    self._seg_audio.append(np.frombuffer(speech, np.int16))
        if self._seg_active and not self._ep.in_speech:
            return self._end_segment()
        return []

    def _decode(self, audio: np.ndarray) -> None:
        """Decode one whole utterance with both decoders, at a normalized level: the acoustic
        model's features are level-dependent, and a lifter two metres away is quiet."""
        x = audio.astype(np.float32)
        level = np.sqrt(np.mean(x**2)) + 1e-6
        gain = min(self.s.target_rms * 32768 / level, 100.0)
        raw = np.clip(x * gain, -32768, 32767).astype(np.int16).tobytes()
        # The first utterance of a stream meets a cold cepstral-mean estimate (the model's
        # default, not this mic): decode it twice so the second pass uses a warmed-up one.
        for _ in range(1 if self._warm else 2):
            for dec in (self._grammar, self._phones):
                dec.start_utt()
                dec.process_raw(raw, full_utt=False)
                dec.end_utt()
        self._warm = True

    def _end_segment(self) -> list[Detection]:
        frames, too_long, echo = self._seg_frames, self._seg_too_long, self._seg_echo
        # Echo gate: with ~15-20 dB of cancellation, what's left of the coach's voice is a few
        # percent of the echo removed; a lifter speaking over it leaves far more.
        echo_gated = self._seg_unsure or self._seg_clean_e < self.s.echo_ratio_gate * self._seg_echo_e
        audio = np.concatenate(self._seg_audio) if self._seg_audio else np.zeros(0, np.int16)
        self._reset_segment()
        if too_long or echo_gated or frames * 0.03 < self.s.min_speech:
            return []
        self._decode(audio)
        g, p = self._grammar.hyp(), self._phones.hyp()
        if g is None or p is None or not g.hypstr:
            return []
        command = self.vocabulary.command_for(g.hypstr)
        if command is None:
            if self.trace is not None:
                self.trace.append((self.time, "filler: " + g.hypstr, None, frames, None, None))
            return []
        # 10 ms frames the grammar path spent outside the phrase: leftover words, not silence.
        silence = sum(
            seg.end_frame - seg.start_frame + 1
            for seg in self._grammar.seg()
            if seg.word in ("<sil>", "(NULL)", "<s>", "</s>") or seg.word.startswith("++")
        ) * 0.01
        # Scores are scaled likelihoods exp'd by PocketSphinx; their logs compare directly
        # because both decoders saw the same frames with the same acoustic model.
        ratio = (math.log(max(g.score, 1e-300)) - math.log(max(p.score, 1e-300))) / (frames * 0.03)
        strictness = self.vocabulary.strictness_of(command)
        threshold = self.s.threshold + (strictness - 1.0) * 0.1
        threshold += self.s.echo_margin * (echo / max(frames, 1))
        if self.trace is not None:
            self.trace.append((self.time, g.hypstr, round(ratio, 3), frames, round(silence, 2), round(echo, 2)))
        # Over the coach's voice, residual echo around the command is aligned as "silence".
        max_silence = self.s.max_silence + 0.5 * (echo / max(frames, 1))
        if ratio < threshold or silence > max_silence:
            return []
        confidence = 1.0 / (1.0 + math.exp(-(ratio - threshold) * 15.0 - 0.5))
        return [Detection(command, g.hypstr, round(confidence, 3), round(self.time, 3))]


class PlainGrammarBaseline:
    """The untuned reference: PocketSphinx 5's documented Endpointer + Decoder loop with a JSGF
    grammar of the phrases, library defaults (bestpath on, no rejection). Benchmarks only."""

    name = "pocketsphinx-baseline"

    def __init__(self, vocabulary: Vocabulary) -> None:
        import pocketsphinx as ps

        _silence_logs()
        self.vocabulary = vocabulary
        self._ep = ps.Endpointer()
        hmm, dic, _ = _model_paths()
        self._dec = ps.Decoder(hmm=hmm, dict=dic, lm=None, samprate=self._ep.sample_rate, loglevel="FATAL")
        self._dec.add_jsgf_string("commands", grammar_jsgf(vocabulary))
        self._dec.activate_search("commands")
        self._frame_samples = self._ep.frame_bytes // 2
        self._pending = np.zeros(0, np.int16)
        self._frames = 0

    def feed(self, samples: np.ndarray, playback: np.ndarray | None = None) -> list[Detection]:
        self._pending = np.concatenate([self._pending, np.asarray(samples, np.int16)])
        n = len(self._pending) // self._frame_samples
        out: list[Detection] = []
        for i in range(n):
            frame = self._pending[i * self._frame_samples : (i + 1) * self._frame_samples]
            self._frames += 1
            prev = self._ep.in_speech
            speech = self._ep.process(frame.tobytes())
            if speech is not None:
                if not prev:
                    self._dec.start_utt()
                self._dec.process_raw(speech)
                if not self._ep.in_speech:
                    out.extend(self._finish())
        self._pending = self._pending[n * self._frame_samples :]
        return out

    def flush(self) -> list[Detection]:
        if self._ep.in_speech:
            tail = self._pending if len(self._pending) else np.zeros(self._frame_samples, np.int16)
            speech = self._ep.end_stream(tail.tobytes())
            if speech is not None:
                self._dec.process_raw(speech)
            return self._finish()
        return []

    def _finish(self) -> list[Detection]:
        self._dec.end_utt()
        hyp = self._dec.hyp()
        command = self.vocabulary.command_for(hyp.hypstr) if hyp is not None else None
        if command is None:
            return []
        at = self._frames * self._frame_samples / SAMPLE_RATE
        return [Detection(command, hyp.hypstr, round(hyp.prob, 3), round(at, 3))]
