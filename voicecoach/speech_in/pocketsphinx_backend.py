"""PocketSphinx 5 as a streaming command recognizer, with rejection.

A plain grammar maps every sound to some command, so a hypothesis is only accepted when:
1. the utterance is short and isolated: the voice activity detector found at most `max_speech`
   seconds of speech after at least `min_gap` seconds without any (a command inside a
   sentence makes a long segment, or a short one right after other words), and it isn't the
   coach's own voice (see `segmenter.py`);
2. the command grammar beats a garbage decoder of the same audio (a loop of common
   non-command words, or the phone loop) by `threshold` per second: a likelihood-ratio test;
3. the grammar's alignment leaves at most `max_silence` seconds as "silence" beyond the
   padding around the speech: a command said inside a short sentence ("pause at the top")
   leaves the other words to be explained as silence;
4. the hypothesis is a whole phrase of the vocabulary (bestpath is off: with a grammar it
   often returns a fragment, "what" for "wait");
5. a decoy grammar (the command phrases plus the vocabulary's `not_commands`: counts, cue words,
   a partner's one-worders) doesn't hear a not-command clearly better: "squeeze" said alone
   must not end the session as "quit". The command grammar itself stays commands-only, since
   putting the decoys there made accented voices' commands come out as "two" or "five".
Each utterance is decoded once it has ended, scaled to a fixed level first. When the lifter has
enrolled (`templates.py`), an utterance that passes tests 1, 3 and 5 takes the command of the
nearest of their recorded takes if it is near enough, whatever the grammar heard.

The command is committed as soon as the segmenter closes the utterance (`window` seconds after
the last speech frame), and `detected_at` is that moment in audio time from the stream start.

Segmentation, the length and silence gates, echo cancellation and the echo gate are the shared
front half in `segmenter.py` (30 ms frames whatever the chunking, so results are chunk-size
independent); while the coach is talking, acceptance here is stricter.
"""

from __future__ import annotations

import functools
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from voicecoach.speech_in.base import SAMPLE_RATE, Detection
from voicecoach.speech_in.pronouncing import default_pronunciations, dictionary_path
from voicecoach.speech_in.segmenter import SegmentedRecognizer, SegmentSettings, Utterance, UtteranceSegmenter
from voicecoach.speech_in.templates import load_templates
from voicecoach.speech_in.vocabulary import Vocabulary

if TYPE_CHECKING:
    from pocketsphinx import Hypothesis

# The decoder's searches: the command grammar, the garbage decoder it must beat, the decoys.
COMMANDS, GARBAGE, DECOYS = "commands", "garbage", "decoys"


@dataclass(frozen=True)
class SphinxSettings:
    segments: SegmentSettings = SegmentSettings()
    """Segmentation, the length gates and the echo gate (shared with the other backends)."""
    garbage: str = "words"
    """The free decoding a command must beat: "words" (a loop of common non-command words)
    or "phones" (PocketSphinx's phone loop)."""
    target_rms: float = 0.1
    """Utterances are scaled to this RMS level (full scale = 1) before decoding."""
    max_silence: float = 0.3
    """Most the grammar path may label silence inside the segment (seconds): a command said in
    a sentence leaves the other words to be explained as 'silence' by the grammar."""
    threshold: float = 0.035
    """Minimum per-second log-score of the command grammar minus the garbage decoding
    (higher = stricter). Tuned on the corpus's tuning split only."""
    echo_margin: float = 0.15
    """Added to the threshold, per unit of echo share, while the coach is talking."""
    decoy_margin: float = 0.05
    """A command is vetoed when the decoy grammar hears a not-command scoring at least this
    much better per second (log-score) than the command grammar's phrase. The largest veto
    that costs no accuracy on the corpus's tuning split (words alone 503 -> 341 per hour
    there). 0.0, picked first under a looser rule (at most 1 point lost), cost 4 points clean
    on the held-out split, under the untuned baseline: issue 4's floor."""


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
        os.fspath(dictionary_path()),
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


def grammar_jsgf(vocabulary: Vocabulary, decoys: bool = False) -> str:
    """A JSGF grammar accepting exactly one phrase of the vocabulary (or, with `decoys`, one of
    its phrases or `not_commands`)."""
    alts = " | ".join(sorted(vocabulary.phrases) + (list(vocabulary.not_commands) if decoys else []))
    return f"#JSGF V1.0;\ngrammar commands;\npublic <command> = {alts} ;\n"


def filler_words(vocabulary: Vocabulary) -> list[str]:
    """The garbage path's words: FILLER_WORDS that are no command word and can be pronounced."""
    return sorted(default_pronunciations().known(set(FILLER_WORDS) - vocabulary.words()))


def filler_jsgf(vocabulary: Vocabulary) -> str:
    """A JSGF grammar for 'anything else': any string of common non-command words."""
    return f"#JSGF V1.0;\ngrammar filler;\npublic <filler> = ({' | '.join(filler_words(vocabulary))})+ ;\n"


def dictionary_words() -> set[str]:
    """Every word the shipped PocketSphinx dictionary can pronounce (lowercase)."""
    return default_pronunciations().words()


def check_vocabulary(vocabulary: Vocabulary) -> None:
    """Raise VocabularyError for words PocketSphinx can't pronounce."""
    known = default_pronunciations().known(vocabulary.all_words())
    vocabulary.check_words(known.__contains__, "PocketSphinx dictionary (CMUdict)")


def grammar_words(vocabulary: Vocabulary, fillers: bool = True) -> set[str]:
    """Every word the engine's grammars use: the phrases', the not-commands', and the fillers'
    when the garbage decoder is the word loop."""
    return vocabulary.all_words() | (set(filler_words(vocabulary)) if fillers else set())


class PocketSphinxRecognizer(SegmentedRecognizer):
    """Streaming CommandRecognizer over PocketSphinx 5 with rejection and echo handling.

    `playback`, when given, may be int16 or float32 in [-1, 1]; it must be the samples the coach
    played over exactly the same span as `samples`, at 16 kHz.
    """

    name = "pocketsphinx"

    def __init__(self, vocabulary: Vocabulary, settings: SphinxSettings = SphinxSettings(),
                 enrollment: bool | Path = True, garbage_when_asked: bool = False) -> None:
        """`enrollment`: use the lifter's templates from `voicecoach enroll` (True: the stored
        ones, if any; a Path: that file; False: none). `garbage_when_asked`: decode the garbage
        search only when a verdict's `ratio` is first read (for a caller that seldom needs it)."""
        import pocketsphinx as ps

        _silence_logs()
        check_vocabulary(vocabulary)
        self.vocabulary = vocabulary
        self.s = settings
        hmm, _, phone_lm = _model_paths()
        fillers = settings.garbage == "words"
        with tempfile.TemporaryDirectory(prefix="voicecoach-") as tmp:
            dic = Path(tmp) / "grammar-words.dict"
            dic.write_text(default_pronunciations().entries(grammar_words(vocabulary, fillers)), encoding="utf-8")
            # One decoder with a search per question: it loads the acoustic model once (a
            # decoder per search held three copies, 16 MB more).
            self._decoder = ps.Decoder(hmm=hmm, dict=str(dic), lm=None, samprate=SAMPLE_RATE,
                                       bestpath=False, loglevel="FATAL")
            self._decoder.add_jsgf_string(COMMANDS, grammar_jsgf(vocabulary))
            if fillers:
                self._decoder.add_jsgf_string(GARBAGE, filler_jsgf(vocabulary))
            else:
                self._decoder.add_allphone_file(GARBAGE, phone_lm)
            # Run on every utterance, in this order; the garbage search perhaps only when asked.
            self._searches = [COMMANDS] if garbage_when_asked else [COMMANDS, GARBAGE]
            if vocabulary.not_commands:
                self._decoder.add_jsgf_string(DECOYS, grammar_jsgf(vocabulary, decoys=True))
                self._searches.append(DECOYS)
        self._segmenter = UtteranceSegmenter(settings.segments)
        self._templates = load_templates(None if enrollment is True else enrollment) if enrollment else None
        if self._templates is not None and not set(self._templates.commands) <= set(vocabulary.commands):
            self._templates = None  # made for another vocabulary: ignore rather than misfire
        self._warm = False
        self._cmn: str | None = None  # the running cepstral mean the next utterance starts from
        self.trace: list[tuple] | None = None
        """Set to [] to record (time, hypothesis, ratio, frames, silence, echo, (decoy, margin) or None)
        per utterance (tuning)."""

    @property
    def enrolled(self) -> bool:
        """The lifter's templates are in use."""
        return self._templates is not None

    # -- internals ---------------------------------------------------------------------------
    def _decode(self, audio: np.ndarray) -> tuple[dict[str, Hypothesis | None], float,
                                                  Callable[[], Hypothesis | None]]:
        """Decode one whole utterance, at a normalized level (the acoustic model's features are
        level-dependent, and a lifter two metres away is quiet): each search's hypothesis, the
        seconds the command grammar's path spent outside the phrase, and the garbage decoder's
        hypothesis as a callable. With `garbage_when_asked` that search, the costliest (the phone
        loop is half of PocketSphinx's CPU), runs only when first asked for: the moonshine engine
        seldom needs it. Each search also moves state the decoder keeps between utterances (its
        front end's noise estimate), so a search run later leaves slightly different numbers for
        the next utterance: in the third digit of its ratios."""
        x = audio.astype(np.float32)
        level = np.sqrt(np.mean(x**2)) + 1e-6
        gain = min(self.s.target_rms * 32768 / level, 100.0)
        raw = np.clip(x * gain, -32768, 32767).astype(np.int16).tobytes()
        dec = self._decoder
        # The first utterance of a stream meets a cold cepstral-mean estimate (the model's
        # default, not this mic): decode it twice so the second pass uses a warmed-up one.
        for _ in range(1 if self._warm else 2):
            # Each search updates the decoder's running cepstral mean as it ends: every search
            # starts from the same one, so their scores compare, and the next utterance starts
            # from the last eager search's update (kept here: the garbage search may run later).
            start = self._cmn or dec.get_cmn()
            hyps: dict[str, Hypothesis | None] = {}
            for name in self._searches:
                hyps[name] = self._search(name, raw, start)
                if name == COMMANDS:
                    # 10 ms frames the grammar path spent outside the phrase: leftover words, not silence.
                    silence = sum(seg.end_frame - seg.start_frame + 1 for seg in dec.seg() or ()
                                  if seg.word in ("<sil>", "(NULL)", "<s>", "</s>") or seg.word.startswith("++")) * 0.01
            self._cmn = dec.get_cmn()
        self._warm = True

        @functools.cache
        def garbage() -> Hypothesis | None:
            return hyps[GARBAGE] if GARBAGE in hyps else self._search(GARBAGE, raw, start)

        return hyps, silence, garbage

    def _search(self, name: str, raw: bytes, cmn: str) -> Hypothesis | None:
        """One search over the utterance `raw`, from the running cepstral mean `cmn`."""
        dec = self._decoder
        dec.set_cmn(cmn)
        dec.activate_search(name)
        dec.start_utt()
        dec.process_raw(raw, full_utt=False)
        dec.end_utt()
        return dec.hyp()

    def _recognize(self, utterance: Utterance) -> list[Detection]:
        """Decode one candidate utterance and apply the rejection tests; with the lifter's
        templates, the nearest one names the command when it is near enough."""
        v = self.verdict(utterance)
        enrolled = self.template_detection(utterance, v)
        if enrolled is not None:
            return [enrolled]
        return [v.detection] if v is not None and v.accepted else []

    def template_detection(self, utterance: Utterance, v: SphinxVerdict | None) -> Detection | None:
        """The command of the lifter's nearest template, if they enrolled, the utterance passes
        PocketSphinx's gates (`v`: its verdict) and the template is near enough."""
        if self._templates is None or not (v is None or (v.alone and v.heard_instead is None)):
            return None
        m = self._templates.match(utterance.audio)
        return Detection(m.command, m.phrase, m.confidence, round(utterance.end, 3)) if m.matched else None

    def verdict(self, utterance: Utterance) -> SphinxVerdict | None:
        """Decode one utterance: the phrase the grammar heard and the rejection tests' figures,
        or None when it heard no phrase of the vocabulary."""
        frames, echo = utterance.frames, utterance.echo
        hyps, silence, garbage = self._decode(utterance.audio)
        g, d = hyps[COMMANDS], hyps.get(DECOYS)
        if g is None or not g.hypstr:
            return None
        command = self.vocabulary.command_for(g.hypstr)
        if command is None:
            if self.trace is not None:
                self.trace.append((utterance.end, "filler: " + g.hypstr, None, frames, None, None))
            return None
        seconds = len(utterance.audio) / SAMPLE_RATE

        def ratio() -> float:
            p = garbage()
            return (_log(g.score) - _log(p.score)) / seconds if p is not None else -math.inf

        heard_instead = self._decoy_heard(d, g.score, seconds)
        strictness = self.vocabulary.strictness_of(command)
        threshold = self.s.threshold + (strictness - 1.0) * 0.1
        threshold += self.s.echo_margin * echo
        # Over the coach's voice, residual echo around the command is aligned as "silence".
        max_silence = self.s.max_silence + 0.5 * echo + utterance.padding
        verdict = SphinxVerdict(command, g.hypstr, ratio, threshold, silence <= max_silence, utterance.end,
                                heard_instead)
        if self.trace is not None:
            self.trace.append((utterance.end, g.hypstr, round(verdict.ratio, 3), frames, round(silence, 2),
                               round(echo * frames, 2), self._decoy_score(d, g.score, seconds)))
        return verdict

    def _decoy_score(self, d: Hypothesis | None, grammar_score: int, seconds: float) -> tuple[str, float] | None:
        """The not-command the decoy grammar heard (`d`) and by how much it beat the command, if any."""
        if d is None or self.vocabulary.command_for(d.hypstr):
            return None
        return d.hypstr, (_log(d.score) - _log(grammar_score)) / seconds

    def _decoy_heard(self, d: Hypothesis | None, grammar_score: int, seconds: float) -> str | None:
        """The not-command heard instead of the command, when it scored clearly better."""
        decoy = self._decoy_score(d, grammar_score, seconds)
        return decoy[0] if decoy is not None and decoy[1] >= self.s.decoy_margin else None


def _log(score: int) -> float:
    """Scores are scaled likelihoods exp'd by PocketSphinx; their logs compare directly
    between searches that saw the same frames, normalized alike, with the same acoustic model."""
    return math.log(max(score, 1e-300))


@dataclass(frozen=True)
class SphinxVerdict:
    """What PocketSphinx made of one utterance, before deciding."""

    command: str
    text: str
    """The phrase the grammar heard."""
    ratio_of: Callable[[], float] = field(repr=False, compare=False)
    """Decodes the garbage search for `ratio` (called once, when first needed)."""
    threshold: float
    """The ratio needed for this command here (strictness and echo included)."""
    alone: bool
    """The phrase explains the utterance: the grammar's alignment left no more silence than
    allowed, so no other words were said around it."""
    end: float
    heard_instead: str | None = None
    """The not-command the decoy grammar heard clearly better than the phrase, if any: then
    this is no command."""

    @functools.cached_property
    def ratio(self) -> float:
        """Per-second log-score of the grammar over the garbage decoder (-inf if it found no path)."""
        return self.ratio_of()

    def __getstate__(self) -> dict:
        # Pickled (the tuning script's records cross processes): settled, no decoder inside.
        return {**self.__dict__, "ratio_of": functools.partial(float, self.ratio), "ratio": self.ratio}

    @property
    def accepted(self) -> bool:
        return self.alone and self.ratio >= self.threshold and self.heard_instead is None

    @property
    def detection(self) -> Detection:
        confidence = 1.0 / (1.0 + math.exp(-(self.ratio - self.threshold) * 15.0 - 0.5))
        return Detection(self.command, self.text, round(confidence, 3), round(self.end, 3))


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
            if speech:  # it may hand back no audio at all, which process_raw rejects
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
