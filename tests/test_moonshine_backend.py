"""The Moonshine engine (PocketSphinx proposes, Moonshine's transcript names or vetoes) on real
synthesized speech, and the model it rebuilds from the moonshine-cpp wheel."""

from __future__ import annotations

import dataclasses
import importlib.util
import pickle

import numpy as np
import pytest

from speech_helpers import RATE, add_noise, babble, rms, room_echo, run, say, sequence
from test_echo import coach_track
from test_recognizer import GYM_WORDS, ONE_PER_COMMAND, SENTENCES, check_hits, commands_audio, vocab  # noqa: F401 (fixtures)
from voicecoach.speech_in import moonshine_model
from voicecoach.speech_in.engines import EngineError, make_recognizer
from voicecoach.speech_in.moonshine_backend import MoonshineRecognizer, MoonshineSettings, PhraseMatcher, words_of
from voicecoach.speech_in.moonshine_model import MoonshineTranscriber, Transcript, written_forms
from voicecoach.speech_in.neural_backend import CommandOpinion, load_head
from voicecoach.speech_in.pocketsphinx_backend import PocketSphinxRecognizer, SphinxVerdict
from voicecoach.speech_in.pronouncing import default_pronunciations
from voicecoach.speech_in.segmenter import SegmentSettings, UtteranceSegmenter
from voicecoach.speech_in.vocabulary import load_vocabulary


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    # Rebuilt from the installed wheel into a fresh folder: the same steps as a first run.
    return moonshine_model.prepared_model(tmp_path_factory.mktemp("moonshine") / "model", progress=lambda step: None)


@pytest.fixture(scope="module")
def transcriber(model_folder):
    return MoonshineTranscriber(model_folder)


@pytest.fixture(scope="module")
def engine(vocab, transcriber):
    return lambda: MoonshineRecognizer(vocab, transcriber=transcriber)


def test_transcribes_words_said_clearly(transcriber):
    # A natural-sounding voice isn't available offline to the tests; espeak-ng's default voice,
    # slow and clear, is transcribed word for word.
    for text in ("stop", "squeeze", "slow down", "how many left"):
        heard = transcriber.transcribe(say(text, speed=130) * 0.3)
        assert words_of(heard.text) == text.split(), (text, heard)
        assert -3.0 < heard.logprob <= 0.0


def test_silence_transcribes_as_nothing(transcriber):
    heard = transcriber.transcribe(np.zeros(RATE, np.float32))
    assert words_of(heard.text) == []


def test_words_of_normalizes_a_transcript():
    assert words_of("Ok, ready?") == ["okay", "ready"]
    assert words_of("Status status.") == ["status"]
    assert words_of("Hold on, hold on") == ["hold", "on"]
    assert words_of("That hurts. That hurts. That") == ["that", "hurts"]  # cut off at the token cap
    assert words_of("That hurts that") == ["that", "hurts", "that"]  # not said twice
    assert words_of("I'm done.") == ["i'm", "done"]
    assert words_of("Stop the bar") == ["stop", "the", "bar"]


def test_phrase_matcher_allows_slips_not_other_words(vocab):
    m = PhraseMatcher(vocab, default_pronunciations().phones)
    assert m.nearest(["finish"])[:2] == ("done", "finished") and m.nearest(["finish"])[2] <= 0.34
    assert m.nearest(["in", "session"])[:2] == ("stop", "end session") and m.nearest(["in", "session"])[2] <= 0.34
    assert m.nearest(["skep"])[:2] == ("skip", "skip")  # not in the dictionary: letters
    assert m.nearest(["spot"])[2] > 0.34  # "spot" is not "stop"
    assert m.nearest(["spaghetti"])[2] > 0.34
    assert m.nearest(["two"])[:2] == (None, "two")  # one of the vocabulary's not-commands


# On this one robotic voice Moonshine mishears some commands and doubts PocketSphinx's guess:
# at 10 dB "pause please" and "help", at 5 dB also "finished" and "slower" (measured with
# session 12's settings; session 11's threshold also lost "finished" at 10 dB). On the
# benchmark's tuning split (many espeak-ng voices and noises) it gained at every SNR above 0 dB.
# Since session 22's VAD (two restarted states) "skip" at 10 dB opens 90 ms earlier and
# Moonshine writes "Okay." instead of "It's okay.", which no longer lets PocketSphinx's "skip"
# through; over the two tuning splits that VAD found 109 more commands of 2790 (docs/moonshine.md).
@pytest.mark.parametrize("snr, min_hits", [(None, 12), (10.0, 9), (5.0, 8)])
def test_each_command_recognized_clean_and_in_noise(vocab, engine, commands_audio, snr, min_hits):
    x, spans = commands_audio
    x = x if snr is None else add_noise(x, snr, seed=1)
    check_hits(run(engine(), x), spans, vocab, min_hits=min_hits)


# The shipped phrases (two words where a command has them, session 29), one per command, on the
# same voice. Measured: all 12 clean and at 10 dB, 11 at 20 dB ("pause please" missed), 10 at 5 dB
# ("resume" and "skip" missed); nothing wrong at any SNR.
SHIPPED_ONE_PER_COMMAND = ["okay ready", "I'm done", "pause please", "resume", "stop", "say again", "skip",
                           "slow down", "speed up", "what can I say", "how many left", "that hurts"]


@pytest.fixture(scope="module")
def shipped_engine(transcriber):
    shipped = load_vocabulary()
    return shipped, lambda: MoonshineRecognizer(shipped, transcriber=transcriber)


@pytest.mark.parametrize("snr, min_hits", [(None, 12), (10.0, 11), (5.0, 9)])
def test_the_shipped_phrases_recognized_clean_and_in_noise(shipped_engine, snr, min_hits):
    shipped, engine = shipped_engine
    assert {shipped.command_for(p) for p in SHIPPED_ONE_PER_COMMAND} == set(shipped.commands)
    x, spans = sequence(SHIPPED_ONE_PER_COMMAND, level=0.05)
    x = x if snr is None else add_noise(x, snr, seed=1)
    check_hits(run(engine(), x), spans, shipped, min_hits=min_hits)


def test_with_the_shipped_phrases_words_said_alone_are_no_command(shipped_engine):
    # A partner's counts and cheers, words a phone or two from a command, and the one-word
    # commands of docs/one-word-commands.toml, each said alone by three voices: none is one of
    # the shipped phrases, so none may fire (measured: none does; with the one-word file 23 of
    # the 3 x 8 one-word commands do, and still none of the other words).
    shipped, engine = shipped_engine
    words = GYM_WORDS + ["lower", "hold", "breath", "grip", "fun", "step", "rep", "reps",
                         "ready", "done", "pause", "help", "slower", "faster", "status", "again"]
    fired = []
    for voice in ("en-us", "en-gb", "en-us+f3"):
        x, spans = sequence(words, gap=1.5, level=0.05, voice=voice)
        fired += [(voice, d.command, d.text) for d in run(engine(), x)]
    assert fired == []


@pytest.mark.parametrize("snr", [None, 20.0])
@pytest.mark.parametrize("phrases", ["one-word", "shipped"])
def test_command_words_inside_sentences_rejected(engine, shipped_engine, phrases, snr):
    # "slow down on the way down" holds a shipped phrase; "pause at the top" and "get ready for
    # the next set" hold the one-word commands.
    x, _ = sequence(SENTENCES, gap=1.0, level=0.05)
    x = x if snr is None else add_noise(x, snr)
    make = engine if phrases == "one-word" else shipped_engine[1]
    assert run(make(), x) == []


def test_gym_words_said_alone_vetoed(vocab, engine):
    # A partner's counts and cheers said alone: PocketSphinx takes some for commands even with
    # its decoys; Moonshine writes many down as what they are ("Two.", "Breathe.") and finds
    # the phrase PocketSphinx proposes for the rest ("go on" for "one") unlikely. Measured: 17
    # of 3 x 23 fire for PocketSphinx, 1 here (10 before the verification).
    def fired(make):
        out = {}
        for voice in ("en-us", "en-gb", "en-us+f3"):
            x, spans = sequence(GYM_WORDS, gap=1.5, level=0.05, voice=voice)
            out |= {(voice, t): d.command for d in run(make(), x) for t, s, e in spans if s <= d.detected_at < e + 1.2}
        return out

    moonshine, sphinx = fired(engine), fired(lambda: PocketSphinxRecognizer(vocab, enrollment=False))
    assert len(sphinx) >= 12, sphinx
    assert len(moonshine) <= 3, (moonshine, sphinx)


def test_words_a_phone_from_a_command_said_alone_mostly_vetoed(vocab, transcriber):
    # A partner's clear "step" or "top" is a phone from "stop", and Moonshine writes it down as
    # it was said; within `near` of the phrase, that alone named the command. Moonshine finds
    # "Stop." far less likely than its "Step.", so `near_gap` weighs such a transcript as any
    # other (measured without the neural head's check: 17 of 4 x 10 fired without `near_gap`, 8
    # with it). The confirming head's check (`head_floor`) then vetoes some of what is left: 5
    # (session 25's check, the neural engine's own head at 0.2: 6).
    words = ["step", "top", "stat", "shop", "stock", "rest", "fun", "read", "nap", "reap"]
    clips = [sequence(words, gap=1.5, level=0.05, voice=voice)[0]
             for voice in ("en-us", "en-gb", "en-us+f3", "en-us+m3")]

    def fired(settings):
        return sum(len(run(MoonshineRecognizer(vocab, settings, transcriber=transcriber), x)) for x in clips)

    no_head = dataclasses.replace(MoonshineSettings(), head_floor=0.0)
    gap_only = fired(no_head)
    without = fired(dataclasses.replace(no_head, near_gap=float("inf")))
    assert gap_only <= 10 and gap_only < without - 3, (gap_only, without)
    shipped = fired(MoonshineSettings())
    assert shipped < gap_only, (shipped, gap_only)


def test_commands_over_chatter_are_heard_at_all(vocab, transcriber):
    # Five talkers across the room keep the VAD hearing speech, so without the chatter gate
    # (`SegmentSettings.talk_share`) the utterance never ends. Measured with the confirming head:
    # 13 of 48 with it, 6 without (session 25's confirmation 15 and 7; none 16 and 7); far from
    # the other noises' figures, but no longer nothing.
    shipped = MoonshineSettings()
    segments = dataclasses.replace(shipped.sphinx.segments, talk_share=0.0)
    ungated = dataclasses.replace(shipped, sphinx=dataclasses.replace(shipped.sphinx, segments=segments))
    heard = {shipped: 0, ungated: 0}
    for voice in ("en-us", "en-gb"):
        x, spans = sequence(ONE_PER_COMMAND, gap=1.5, level=0.05, voice=voice)
        for snr in (20, 10):
            chatter = (x + babble(len(x), seed=1) * 0.05 / 10 ** (snr / 20)).astype(np.float32)
            for settings in heard:
                dets = run(MoonshineRecognizer(vocab, settings, transcriber=transcriber), chatter)
                heard[settings] += sum([d.command for d in dets if start <= d.detected_at < end + 1.2]
                                       == [vocab.command_for(text)] for text, start, end in spans)
    assert heard[shipped] >= 10 and heard[shipped] >= heard[ungated] + 6, heard


def test_coach_echo_alone_gives_nothing_and_a_barge_in_is_heard(engine):
    playback = coach_track()
    mic = room_echo(playback, 40, -12, seed=40)
    assert run(engine(), mic, playback=playback) == []
    user = say("stop")
    at = int(6.0 * RATE)
    mic[at : at + len(user)] += user * (0.05 / rms(user))
    assert [d.command for d in run(engine(), mic, playback=playback)] == ["stop"]


def test_over_the_coach_pocketsphinx_proposes_only_stop_pause_and_pain(engine, monkeypatch):
    # Step 3 on real audio (the phrase said clearly, Moonshine's transcript made unsure so that
    # PocketSphinx's proposal is weighed): over the coach's voice (echo share > 0) a proposed
    # "let's go" is no command, a proposed "stop" still is; without the coach both are.
    from voicecoach.speech_in.segmenter import Utterance

    def step_3(phrase, command, echo):
        rec = engine()
        audio = (say(phrase) * 0.3 * 32767).astype(np.int16)
        quiet = np.zeros(RATE // 2, np.int16)
        context = np.concatenate([quiet, audio, quiet])
        utterance = Utterance(audio=context, context=context, frames=len(audio) // 480, echo=echo, end=2.0)
        # (the transcriber is the module's shared one: patched for this test only)
        monkeypatch.setattr(rec._moonshine, "decode", lambda encoded: Transcript("Mmm hmm.", rec.s.unsure - 1.0))
        monkeypatch.setattr(rec._sphinx, "verdict",
                            lambda u: SphinxVerdict(command, phrase, lambda: 1.0, threshold=-0.05, alone=True, end=2.0))
        return [d.command for d in rec._recognize(utterance)]

    assert step_3("let's go", "ready", 0.0) == ["ready"] and step_3("let's go", "ready", 0.6) == []
    assert step_3("stop", "stop", 0.0) == ["stop"] == step_3("stop", "stop", 0.6)


def test_the_decision_rule(vocab, engine):
    rec = engine()
    proposed = SphinxVerdict("skip", "skip", lambda: 0.3, threshold=0.035, alone=True, end=3.0)
    below = dataclasses.replace(proposed, ratio_of=lambda: 0.0)  # heard alone, under PocketSphinx's threshold
    likely = {"skip": -2.0}.get  # Moonshine's log-probability of the phrase for this audio

    asked = []  # PocketSphinx's verdicts asked for: it decodes only what the transcript leaves open

    def decide(text, logprob, sphinx, likelihood=likely, opinion=lambda command: 0.9):
        asked.clear()
        return [(d.command, d.text) for d in rec.decide(Transcript(text, logprob), lambda: asked.append(1) or sphinx,
                                                        3.0, likelihood, opinion)]

    assert decide("Spaghetti.", -0.2, proposed) == [] and not asked  # sure of other words: a veto
    assert decide("Two.", -4.0, proposed) == [] and not asked  # a not-command, however unsure
    assert decide("Skip.", -0.1, None) == [("skip", "skip")] and not asked  # named by the transcript alone
    # Only near a phrase ("Step." is a phone away from "stop"): it names the command only if
    # Moonshine finds the phrase nearly as likely as what it wrote (noise blurred a "stop")...
    assert decide("Step.", -0.1, None, lambda phrase: -0.1 - rec.s.near_gap + 0.1) == [("stop", "stop")]
    # ...not when it clearly heard the other word; then the transcript is weighed as any other.
    assert decide("Step.", -0.1, proposed, lambda phrase: -0.1 - rec.s.near_gap - 0.1) == [] and not asked
    assert decide("Step.", -1.5, proposed, {"stop": -9.0, "skip": -2.0}.get) == [("skip", "skip")] and asked
    # The pain command's phrases count from further away: "Out" is one of "ouch"'s two phones off.
    assert decide("Out.", -0.6, None, lambda phrase: -0.6 - rec.s.near_gap + 0.1) == [("pain", "ouch")]
    assert decide("Out.", -0.6, None, lambda phrase: -0.6 - rec.s.near_gap - 0.1) == []
    assert decide("Hop.", -0.6, None, lambda phrase: -0.6) == []  # "stop" is 0.5 away too, but not pain
    # Unsure: PocketSphinx's phrase is weighed by how likely Moonshine finds it.
    assert decide("Netflix.", -1.5, proposed) == [("skip", "skip")] and asked
    # PocketSphinx passed its threshold by over two RATIO_STEPs: `backing` counts twice.
    assert decide("Netflix.", -1.5, proposed, lambda phrase: -1.5 - rec.s.verify - 2 * rec.s.backing + 0.1)
    assert decide("Netflix.", -1.5, proposed, lambda phrase: -1.5 - rec.s.verify - 2 * rec.s.backing - 0.1) == []
    barely = dataclasses.replace(proposed, ratio_of=lambda: 0.0351)  # just past it: held to `verify` alone
    assert decide("Netflix.", -1.5, barely, lambda phrase: -1.5 - rec.s.verify + 0.1)
    assert decide("Netflix.", -1.5, barely, lambda phrase: -1.5 - rec.s.verify - 0.1) == []
    assert decide("Netflix.", -1.5, below) == [("skip", "skip")]  # rescued: within `rescue`
    assert decide("Netflix.", -1.5, below, lambda phrase: -1.5 - rec.s.rescue - 0.1) == []
    # Within the smaller allowance, or beyond the larger, PocketSphinx's ratio isn't decoded.
    unread = dataclasses.replace(proposed, ratio_of=lambda: pytest.fail("the ratio was decoded"))
    assert decide("Netflix.", -1.5, unread, lambda phrase: -1.5 - min(rec.s.verify, rec.s.rescue) + 0.1)
    assert decide("Netflix.", -1.5, unread,
                  lambda phrase: -1.5 - max(rec.s.verify + 2 * rec.s.backing, rec.s.rescue) - 0.1) == []
    assert decide("Netflix.", -1.5, dataclasses.replace(proposed, alone=False)) == []
    assert decide("Netflix.", -1.5, dataclasses.replace(proposed, heard_instead="two")) == []
    # A command not written down word for word needs the neural head to hear it too...
    doubted, unknown = (lambda command: rec.s.head_floor - 0.01), (lambda command: None)
    assert decide("Netflix.", -1.5, proposed, opinion=doubted) == []
    assert decide("Step.", -0.1, None, lambda phrase: -0.1, opinion=doubted) == []
    assert decide("Netflix.", -1.5, proposed, opinion=lambda command: rec.s.head_floor) == [("skip", "skip")]
    assert decide("Netflix.", -1.5, proposed, opinion=unknown) == [("skip", "skip")]  # a command it never learned
    # ...but not one written word for word, nor the pain command.
    unasked = lambda command: pytest.fail("the head was asked")  # noqa: E731
    assert decide("Skip.", -0.1, None, opinion=unasked) == [("skip", "skip")]
    assert decide("Out.", -0.6, None, lambda phrase: -0.6, opinion=unasked) == [("pain", "ouch")]
    named = rec.decide(Transcript("Skip.", -0.1), lambda: None, 3.0, likely, unasked)
    assert 0 < named[0].confidence <= 1 and named[0].detected_at == 3.0


def test_the_neural_head_confirms_what_it_hears(vocab):
    # The third opinion on real audio: every command said clearly scores at least `head_floor`
    # for itself; a clear "pause please", or a count said alone, scores below it for the others.
    opinion, floor = CommandOpinion(), MoonshineSettings().head_floor
    for phrase in ONE_PER_COMMAND:
        assert opinion.score(say(phrase) * 0.3, vocab.phrases[phrase]) >= floor, phrase
    pause, one = say("pause please") * 0.3, say("one") * 0.3
    others = set(vocab.phrases.values()) - {"pause"}
    assert max(opinion.score(pause, c) for c in others) < floor
    assert max(opinion.score(one, c) for c in others | {"pause"}) < floor
    as_int16 = opinion.score((pause * 32767).astype(np.int16), "pause")
    assert as_int16 == pytest.approx(opinion.score(pause, "pause"), abs=1e-3)
    assert opinion.score(pause, "a command the coach added") is None


SOUND_ALIKES = ["step", "top", "stat", "shop", "stock", "rest", "fun", "read", "nap", "reap", "heavy", "lower",
                "steady", "nice", "yeah", "hold", "net", "skin", "deal", "health", "fast", "sure", "later", "none", "dumb"]


def test_the_confirming_head_lets_fewer_sound_alike_words_through(vocab):
    # The confirming head was trained with words that sound like a phrase, said alone, as
    # "speech"; the neural engine's head wasn't. Words a partner might say alone, each scored for
    # the command it sounds most like: measured at the floor, 36 of 2 x 25 pass the neural
    # engine's head, 25 the confirming head (the floor alone would let 49 of 50 through the
    # neural engine's head at session 25's 0.2).
    floor = MoonshineSettings().head_floor
    confirming, engines_own = CommandOpinion(), CommandOpinion(load_head())
    commands = sorted(set(vocab.phrases.values()) - {"pain"})

    def passed(opinion):
        return sum(max(opinion.scores(x, commands).values()) >= floor for x in clips)

    clips = [say(w, voice=voice) * 0.3 for voice in ("en-us", "en-gb") for w in SOUND_ALIKES]
    assert passed(confirming) <= passed(engines_own) - 6


def test_an_enrolled_template_gives_way_only_to_what_moonshine_clearly_heard(engine):
    rec = engine()
    contradicts = lambda text, logprob, command="done": rec.contradicts(Transcript(text, logprob), command)  # noqa: E731
    sure, unsure = rec.s.unsure + 0.1, rec.s.unsure - 2.0
    # Another phrase word for word, however unsure: a count, "hold", another command.
    assert contradicts("Four.", unsure) and contradicts("Hold.", unsure) and contradicts("Stop.", unsure)
    # The command's own phrase, or near it (noise blurred it), never.
    assert not contradicts("Done.", sure) and not contradicts("Dun.", sure)
    # Other words: only when Moonshine is sure of them.
    assert contradicts("Spaghetti.", sure) and not contradicts("Spaghetti.", unsure)
    assert contradicts("Top.", sure) and not contradicts("Top.", unsure)  # near "stop", not "done"
    assert not contradicts("", sure)  # it heard no words: the template's evidence stands
    assert not contradicts("Spaghetti.", sure, "pain") and not contradicts("Hold.", sure, "pain")  # never dropped


def test_pocketsphinx_decodes_its_garbage_search_only_when_asked(vocab):
    # The phone loop is half of PocketSphinx's CPU, and the moonshine engine's rule seldom needs
    # it. Decoded when asked for, it gives the same verdicts, and ratios within PocketSphinx's
    # own wobble (each search moves its front end's noise estimate: the order of searches shows
    # in the third digit).
    x, _ = sequence(["ready", "skip", "slower", "pause please", "go on", "stop", "faster"], level=0.05)
    segmenter = UtteranceSegmenter()
    utterances = segmenter.feed(add_noise(x, 10, seed=15)) + segmenter.flush()
    assert len(utterances) == 7
    settings = MoonshineSettings().sphinx
    eager = PocketSphinxRecognizer(vocab, settings, enrollment=False)
    lazy = PocketSphinxRecognizer(vocab, settings, enrollment=False, garbage_when_asked=True)
    searches = []
    search = lazy._search
    lazy._search = lambda name, raw, cmn: searches.append(name) or search(name, raw, cmn)
    for u in utterances:
        now, later = eager.verdict(u), lazy.verdict(u)
        assert now == later and "garbage" not in searches, u.end  # (== leaves the ratio out)
        ratios = [later.ratio, later.ratio]  # read twice, decoded once
        assert ratios[0] == pytest.approx(now.ratio, abs=0.02) and searches.count("garbage") == 1
        searches.clear()
    # A verdict pickles settled (the tuning script's records cross processes).
    assert pickle.loads(pickle.dumps(later)).ratio == later.ratio


def test_phrase_scores_agree_with_the_transcripts(transcriber):
    # Scoring a text writes it in the model's own tokens: a transcript scores as likely as
    # decoding found it; the phrase said scores far above one that wasn't, even where
    # espeak-ng's voice is transcribed wrong ("pause please" as "Honestly.").
    for text in ("stop", "slow down", "pause please", "let's go", "that hurts"):
        encoded = transcriber.encode(say(text, speed=130) * 0.3)
        heard = transcriber.decode(encoded)
        own, wrong, *said = transcriber.score(encoded, [heard.text, "Spaghetti."] + written_forms(text))
        # (Not to the digit: int8 activations are scaled per batch, and decoding runs one token
        # at a time while scoring runs every text's tokens at once. How far apart depends on the
        # CPU's int8 kernels: up to 0.46 with AVX512-VNNI, under 0.2 without; a wrong text is >15 lower.)
        # A transcript cut off in a loop has no end to count; scoring counts one, an unlikely one.
        close = abs(own - heard.logprob) < 1.0 if heard.ended else own < heard.logprob - 1.0
        assert close and max(said) > wrong + 5, (text, heard, own, wrong, said)
        # A batch of texts reads the one cross-attention cache the utterance has: each text
        # scores as it does alone (up to the batch's int8 scaling).
        alone = [transcriber.score(encoded, [form])[0] for form in written_forms(text)]
        assert np.allclose(said, alone, atol=1.0), (text, said, alone)
    assert written_forms("what can i say")[2] == "What can I say?"
    assert "Pause, please." in written_forms("pause please")


def test_a_transcript_cut_off_at_the_token_cap_says_so(transcriber):
    # A decoder stuck in a loop stops at the token cap without choosing its end: the transcript
    # says so, and its log-probability counts only its tokens (scoring the text adds its end,
    # unlikely mid-sentence), which keeps a looping transcript too sure for a rescue.
    encoded = transcriber.encode(say("stop the set now and slow down the next one", speed=130) * 0.3)
    full = transcriber.decode(encoded)
    capped = transcriber.decode(dataclasses.replace(encoded, seconds=0.0))  # the cap: 4 tokens
    assert full.ended and not capped.ended, (full, capped)
    assert len(transcriber.tokens(capped.text)) == 4 < len(transcriber.tokens(full.text)), (capped, full)
    own = transcriber.score(encoded, [capped.text])[0]
    assert own < capped.logprob - 3, (capped, own)


def test_moonshine_hears_more_of_the_quiet_around_a_word(vocab):
    x, spans = sequence(["stop"], level=0.05, lead=1.0)
    segmenter = UtteranceSegmenter()
    [u] = segmenter.feed(x) + segmenter.flush()
    s = SegmentSettings()
    extra = round((s.context_preroll - s.preroll) / 0.03) * 480
    assert len(u.context) - len(u.audio) == extra + round((s.context_tail - s.tail) / 0.03) * 480
    assert np.array_equal(u.context[extra : extra + len(u.audio)], u.audio)


def test_missing_model_is_one_clear_line(vocab, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == moonshine_model.PACKAGE else find_spec(name, *a))
    monkeypatch.setattr(moonshine_model, "cache_dir", lambda: moonshine_model.Path("/nonexistent/voicecoach-test"))
    with pytest.raises(EngineError, match="Moonshine model is not installed"):
        make_recognizer("moonshine", vocab)


def test_a_changed_model_file_is_refused(tmp_path, monkeypatch):
    src = tmp_path / "base-en"
    src.mkdir()
    for name in moonshine_model.SOURCE_FILES:
        (src / name).write_bytes(b"not the model")
    monkeypatch.setattr(moonshine_model, "source_dir", lambda: src)
    with pytest.raises(moonshine_model.MoonshineUnavailable, match="not the Moonshine model"):
        moonshine_model.prepared_model(tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("damage", ["model rewritten", "weights missing", "embeddings truncated"])
def test_a_damaged_prepared_model_is_one_clear_line(model_folder, tmp_path, damage):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(model_folder, folder)
    if damage == "model rewritten":
        (folder / "encoder.onnx").write_bytes(b"half a file")
    elif damage == "weights missing":
        (folder / "decoder_step.onnx.data").unlink()
    else:
        path = folder / "embeddings.npy"
        path.write_bytes(path.read_bytes()[:-416])
    with pytest.raises(moonshine_model.MoonshineUnavailable, match="is damaged .*delete that folder"):
        MoonshineTranscriber(folder)


def test_token_embeddings_are_read_row_by_row_as_saved(model_folder):
    table = np.load(model_folder / "embeddings.npy")
    rows = moonshine_model.TokenEmbeddings(model_folder / "embeddings.npy")
    ids = np.array([[1, 2], [len(table) - 1, 1]])
    assert np.array_equal(rows[ids], table[ids]) and rows[ids].shape == (2, 2, table.shape[1])
    with pytest.raises(IndexError):
        rows[np.array([len(table)])]


def test_default_engine_is_moonshine_where_it_installs(monkeypatch):
    from voicecoach.speech_in import engines

    assert engines._default_engine() == "moonshine"  # installed here (x86-64 Linux)
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == moonshine_model.PACKAGE else find_spec(name, *a))
    assert engines._default_engine() == "pocketsphinx"  # e.g. a Raspberry Pi: no wheel for it
