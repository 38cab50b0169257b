"""Whisper (tiny.en, bundled, and base, assembled at install) on real speech, and the guards around it."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from archive.core.config import load_config
from archive.core.store.records import Companions, RecordingMeta, Segment, Slide, SpeechGap
from ingest import media
from ingest.transcribe import (
    MAX_HINT_TOKENS,
    TranscriberError,
    WhisperTranscriber,
    _encoding_once,
    _Spoken,
    build_hints,
    chunks_as_judged,
    echoes_prompt,
    sentence_lines,
    speech_groups,
    talk_hints,
    transcriber_for,
    whisper_token_count,
)

from .helpers import HOTWORDS, JFK, JFK_TEXT, MULTILINGUAL, MULTILINGUAL_ENGLISH, normalize_words, word_error_rate


def transcribe_file(path, hints=""):
    audio = media.slices(media.decode(path))
    return list(WhisperTranscriber().transcribe(audio, hints))


@pytest.mark.model
def test_jfk_transcribes_accurately_with_sensible_times():
    segments = transcribe_file(JFK)
    text = " ".join(s.text for s in segments)
    assert word_error_rate(JFK_TEXT, text) < 0.10
    assert segments[0].start < 1.0
    assert 9.0 < segments[-1].end <= 11.0
    for before, after in zip(segments, segments[1:], strict=False):
        assert before.start < before.end <= after.start + 0.01


@pytest.mark.model
def test_a_whisper_model_let_go_is_freed_and_loads_again_when_needed():
    """`archive ingest`'s last file lets go of Whisper before indexing (``pipeline.let_go_of_transcription``)."""
    from ingest.transcribe import _models

    transcriber = WhisperTranscriber()
    before = [s.text for s in transcriber.transcribe(media.slices(media.decode(JFK)))]
    held = len(_models)
    transcriber.unload()
    assert len(_models) == held - 1  # this model's, and no other
    assert [s.text for s in transcriber.transcribe(media.slices(media.decode(JFK)))] == before
    assert len(_models) == held


@pytest.mark.model
def test_vocabulary_hint_fixes_a_product_name():  # tiny.en
    plain = " ".join(s.text for s in transcribe_file(HOTWORDS))
    hinted = " ".join(s.text for s in transcribe_file(HOTWORDS, hints=build_hints(["ComfyUI"])))
    assert "ComfyUI" not in plain  # tiny.en hears "comfy eye" on its own
    assert "ComfyUI" in hinted


@pytest.mark.model
@pytest.mark.parametrize("kind", ["silence", "noise", "hum"])
def test_nothing_is_invented_over_silence_or_noise(kind):
    rate = media.SAMPLE_RATE
    rng = np.random.default_rng(7)
    t = np.arange(rate * 30) / rate
    audio = {
        "silence": np.zeros(rate * 30, np.float32),
        "noise": (0.02 * rng.standard_normal(rate * 30)).astype(np.float32),
        "hum": (0.1 * np.sin(2 * np.pi * 60 * t)).astype(np.float32),
    }[kind]
    assert list(WhisperTranscriber().transcribe([media.AudioSlice(0.0, audio)])) == []


@pytest.mark.model
def test_speech_after_a_long_silence_keeps_its_true_time(jfk_samples):
    rate = media.SAMPLE_RATE
    speech = np.concatenate(list(media.decode(JFK)))
    audio = np.concatenate([np.zeros(rate * 20, np.float32), speech])
    segments = list(WhisperTranscriber().transcribe(media.slices(iter([audio]))))
    assert word_error_rate(JFK_TEXT, " ".join(s.text for s in segments)) < 0.10
    assert 19.0 <= segments[0].start <= 21.0


@pytest.mark.model
def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(TranscriberError, match="no Whisper model"):
        WhisperTranscriber(tmp_path).load()
    (tmp_path / "model.bin").write_bytes(b"not a model")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(TranscriberError, match="could not be loaded"):
        WhisperTranscriber(tmp_path).load()


def test_build_hints_is_one_sentence_in_normal_case_keeping_order_without_repeats():
    assert build_hints(["Keralty", " keralty ", "", "Kenji  Health"]) == "Keralty, Kenji Health"
    assert build_hints(["Keralty", "Kenji Health"], style="sentence") == "This talk mentions Keralty and Kenji Health."
    assert build_hints([]) == ""
    long = build_hints([f"term{i}" for i in range(500)], max_chars=100)
    assert len(long) <= 100 and long.startswith("term0, term1")


def test_a_talks_hints_fill_whispers_prompt_and_no_more():
    assert FULL_PROMPT_HINTS.startswith("Krzysztof Wróblewski, ComfyUI, ")  # what staff typed, first
    assert MAX_HINT_TOKENS - 40 < whisper_token_count(" This talk mentions. " + FULL_PROMPT_HINTS) <= MAX_HINT_TOKENS


def _seg(text, start=0.0, end=5.0, words=None):
    return SimpleNamespace(text=text, start=start, end=end, words=words)


def test_lines_follow_sentences_not_whisper_windows():
    words, t = [], 0.0
    for sentence in ["One two three four five six.", "Seven eight nine ten eleven twelve.", "Thirteen fourteen."]:
        for token in sentence.split():
            words.append(SimpleNamespace(word=" " + token, start=t, end=t + 0.9))
            t += 1.0
    # Whisper cut the first two sentences in the middle of the second one.
    first = _seg("One two three four five six. Seven eight", 0.0, 8.0, words[:8])
    second = _seg("nine ten eleven twelve. Thirteen fourteen.", 8.0, t, words[8:])
    assert [line[2] for line in sentence_lines([first, second])] == [
        "One two three four five six.",
        "Seven eight nine ten eleven twelve.",
        "Thirteen fourteen.",
    ]
    assert sentence_lines([first, second])[1][:2] == (6.0, 11.9)
    # Without word timings the words share the segment's span by length; a pause starts a line.
    lines = sentence_lines([_seg("A long clause, and more", 0.0, 4.0), _seg("after a pause.", 6.0, 7.0)])
    assert [line[2] for line in lines] == ["A long clause, and more", "after a pause."]
    assert lines[1][:2] == (6.0, 7.0)
    # A sentence longer than the limit is cut at a comma.
    long = [_seg("first part, second part, third part.", 0.0, 30.0)]
    assert len(sentence_lines(long, max_seconds=10)) >= 2


def test_each_line_knows_when_each_of_its_words_starts():
    """One time per word of the line's text (diarization splits a line two voices share there): a
    token Whisper gives without a leading space belongs to the word before it."""
    tokens = [(" Evidence", 0.0), ("-based", 0.4), (" care", 0.9), (" works.", 1.3), (" Next", 2.0), (" one.", 2.4)]
    words = [SimpleNamespace(word=w, start=t, end=t + 0.3) for w, t in tokens]
    lines = sentence_lines([_seg("Evidence-based care works. Next one.", 0.0, 2.7, words)])
    assert [(text, starts) for _, _, text, starts in lines] == [
        ("Evidence-based care works.", (0.0, 0.9, 1.3)),
        ("Next one.", (2.0, 2.4)),
    ]
    assert all(len(starts) == len(text.split()) for _, _, text, starts in lines)


# -- nothing lost ----------------------------------------------------------------------------


def test_only_the_tail_of_a_word_decoded_again_is_dropped_never_a_repeated_word():
    from ingest.transcribe import _repeats_the_words_before

    before = [_seg("The referral was a piece of paper, not a relationship.", 0.0, 4.0)]
    assert _repeats_the_words_before("ship.", before, 4.1)
    assert not _repeats_the_words_before("Relationship.", before, 4.1)  # said again: kept
    assert not _repeats_the_words_before("Thank you.", [_seg("Well, thank you.", 0.0, 2.0)], 2.5)
    assert not _repeats_the_words_before("ship.", [_seg("A ship.", 5.0, 6.0)], 4.1)  # nothing before it


def test_a_prompt_written_back_instead_of_the_speech_is_caught():
    prompt = "Krzysztof Wroblewski, Adaeze Okonkwo, Great Lakes Health Equity Collaborative"
    # What base wrote for 27.5 s of speech given that list (bench/eval, paying-for-community-health-workers).
    assert echoes_prompt(
        _seg("Thank you, Krzysztof Wroblewski, Adaeze Okonkwo, Great Lakes Health Equity Collaborative", 0.0, 27.5),
        prompt,
    )
    # The same names said at a speaking pace are speech.
    assert not echoes_prompt(_seg("Welcome Krzysztof Wroblewski and Adaeze Okonkwo of Great Lakes", 0.0, 4.5), prompt)
    assert not echoes_prompt(_seg("We billed for nine hundred visits last year", 0.0, 20.0), prompt)
    assert not echoes_prompt(_seg("Thank you, Krzysztof", 0.0, 27.5), None)


def _long_recording() -> np.ndarray:
    """About 50 s of real speech, three voices, pauses between them, speech up to the last second."""
    rate = media.SAMPLE_RATE
    english = np.concatenate(list(media.decode(MULTILINGUAL)))[: int(30.3 * rate)]
    pause = np.zeros(rate * 2, np.float32)
    return np.concatenate(
        [np.concatenate(list(media.decode(JFK))), pause, english, pause, np.concatenate(list(media.decode(HOTWORDS)))]
    )


LONG_SENTENCES = [JFK_TEXT, *MULTILINGUAL_ENGLISH, "Then you go into your folder again"]


def _heard(lines, sentence: str) -> float:
    wanted = set(normalize_words(sentence).split())
    said = set(normalize_words(" ".join(line.text for line in lines)).split())
    return len(wanted & said) / len(wanted)


@pytest.fixture(scope="module")
def long_recording():
    return _long_recording()


GLOSSARY_HINTS = build_hints(["Test Host", "ComfyUI", "Keralty folder", "Social Prescribing USA"])
# A talk's hints filling Whisper's whole prompt: staff's term, then the names and terms of a deck.
FULL_PROMPT_HINTS = talk_hints(
    RecordingMeta(title="Setting up ComfyUI", speakers=["Krzysztof Wróblewski"], vocab=["ComfyUI"]),
    Companions(
        slides=tuple(
            Slide(page, f"Partner {page}", text, None)
            for page, text in enumerate(
                [
                    "Adaeze Okonkwo, Babajide Ogunleye, Ximena Echeverri Zubiría, Vecinos Compasivos",
                    "Małgorzata Przybylska, Agnieszka Szczepańska, Emeka Nwachukwu, Itziar Goikoetxea",
                    "Khoa Pham, Conectados, Wojciech Zieliński, Temitope Oyelaran, Thu Huong Nguyen, Hoa Sen, Zalo",
                    "Keralty, Kenji Health, Chapinero, Hialeah, Larkspur, Bellwether, 18,000 members, 62%",
                    "Lourdes Pacheco, Rosalind Achterberg, Dolores Ibarra, Andre Baptiste, Tandem Impact, Ashdown",
                    "Gosia Przybylska, Voytek Zielinski, Eau Claire, Szczepanski Ogunleye, Goikoetxea Okonkwo",
                ],
                1,
            )
        )
    ),
)


@pytest.mark.model
@pytest.mark.parametrize("model", ["base", "tiny.en"])
@pytest.mark.parametrize(
    "hints",
    [
        "",
        GLOSSARY_HINTS,
        build_hints(["Test Host", "ComfyUI"], style="sentence"),
        pytest.param(FULL_PROMPT_HINTS, id="full-prompt"),
    ],
)
def test_hints_and_guards_never_remove_a_sentence_and_the_tail_is_kept(long_recording, model, hints):
    transcriber = transcriber_for(load_config({"whisper_model": model}, environ={}))
    items = list(transcriber.transcribe(media.slices(iter([long_recording])), hints))
    lines = [item for item in items if isinstance(item, Segment)]
    for sentence in LONG_SENTENCES:
        assert _heard(lines, sentence) >= 0.7, (sentence, [line.text for line in lines])
    assert lines[0].start < 1.0  # the opening, where speakers say their names
    duration = len(long_recording) / media.SAMPLE_RATE
    assert lines[-1].end > duration - 1.5 and "folder" in lines[-1].text.lower()  # the tail
    assert not [item for item in items if isinstance(item, SpeechGap)]
    if hints:
        assert "ComfyUI" in " ".join(line.text for line in lines)


class ForgetfulTranscriber(WhisperTranscriber):
    """Whisper that writes nothing for a prompted chunk (what hints did to the opening) and,
    with ``deaf``, nothing at all: the checks around Whisper must catch both."""

    def __init__(self, deaf: bool = False):
        super().__init__()
        self.deaf = deaf
        self.prompts: list[str | None] = []

    def _decode(self, model, samples, language, prompt):
        self.prompts.append(prompt)
        if prompt or self.deaf:
            return []
        return super()._decode(model, samples, language, prompt)


@pytest.mark.model
def test_speech_a_prompt_lost_is_transcribed_again_without_it():
    transcriber = ForgetfulTranscriber()
    lines = list(transcriber.transcribe(media.slices(media.decode(JFK)), "Test Host, ComfyUI"))
    assert word_error_rate(JFK_TEXT, " ".join(line.text for line in lines)) < 0.10
    assert "Test Host, ComfyUI" in transcriber.prompts and None in transcriber.prompts


@pytest.mark.model
def test_speech_that_never_gets_text_is_reported_as_a_gap():
    items = list(ForgetfulTranscriber(deaf=True).transcribe(media.slices(media.decode(JFK))))
    assert items and all(isinstance(item, SpeechGap) for item in items)
    assert items[0].start < 1.0 and items[-1].end > 9.0


# -- languages -------------------------------------------------------------------------------


@pytest.mark.model
def test_english_then_another_language_each_kept_in_its_own(tmp_path):
    """The real clip is English then German (no real Spanish recording is available offline);
    the per-chunk detection is the same for the default English and Spanish."""
    transcriber = transcriber_for(load_config({"whisper_model": "base", "whisper_language": "en,de"}, environ={}))
    lines = list(transcriber.transcribe(media.slices(media.decode(MULTILINGUAL))))
    english = [line for line in lines if line.end <= 30.0]
    german = [line for line in lines if line.start >= 31.0]
    assert english and german
    assert {line.language for line in english} == {"en"} and {line.language for line in german} == {"de"}
    assert _heard(english, MULTILINGUAL_ENGLISH[0]) >= 0.7
    assert "software" in normalize_words(" ".join(line.text for line in german))
    assert {"der", "die", "und"} & set(normalize_words(" ".join(line.text for line in german)).split())


@pytest.mark.model
def test_tiny_en_hears_english_only():
    transcriber = WhisperTranscriber(languages=("en", "es"))
    lines = list(transcriber.transcribe(media.slices(media.decode(JFK))))
    assert {line.language for line in lines} == {"en"}


def test_the_default_model_is_base_and_tiny_en_is_the_fast_option():
    assert transcriber_for(load_config({}, environ={})).model_name == "whisper-base"
    assert transcriber_for(load_config({"whisper_model": "tiny.en"}, environ={})).model_name == "whisper-tiny.en"
    assert load_config({"whisper_language": " EN, es,,en"}, environ={}).whisper_languages == ("en", "es")
    with pytest.raises(TranscriberError, match="does not know the language 'spanish'"):
        transcriber_for(load_config({"whisper_language": "en,spanish"}, environ={}))


# -- one encoder pass for a stretch's language check and its decoding --------------------------


def test_chunks_are_given_as_soon_as_the_region_after_them_is_judged():
    """Streaming keeps a chunk's language check among the last windows the encoder remembers."""
    judged_so_far = []

    def judged():
        for region, language in [
            ((0, 16_000), "en"),
            ((20_000, 40_000), "en"),
            ((50_000, 60_000), "es"),
            ((70_000, 80_000), "en"),
        ]:
            judged_so_far.append(region)
            yield region, language

    chunks = chunks_as_judged(judged())
    assert next(chunks) == ("en", [(0, 16_000), (20_000, 40_000)]) and judged_so_far[-1] == (50_000, 60_000)
    assert next(chunks) == ("es", [(50_000, 60_000)]) and judged_so_far[-1] == (70_000, 80_000)
    assert list(chunks) == [("en", [(70_000, 80_000)])]


def test_speech_regions_are_grouped_into_what_one_window_hears():
    second = media.SAMPLE_RATE
    regions = [(0, 8 * second), (9 * second, 20 * second), (21 * second, 29 * second), (30 * second, 31 * second)]
    assert list(speech_groups(regions, seconds=28)) == [regions[:2], regions[2:]]  # 0..29 s would not fit
    assert list(speech_groups([(0, 40 * second)], seconds=28)) == [[(0, 40 * second)]]  # a long region stays whole
    assert list(speech_groups([])) == []


class WindowJudge:
    """A stand-in Whisper whose language check hears the window's mean sample: above 0.5 surely
    English, below -0.5 surely Spanish, between them unsure; records every check."""

    def __init__(self):
        self.checked: list[float] = []
        self.feature_extractor = lambda samples: np.full((80, 3001), samples.mean(), np.float32)
        self.feature_extractor.nb_max_frames = 3000  # type: ignore[attr-defined]
        self.model = SimpleNamespace(detect_language=self._detect)

    def _detect(self, window):
        mean = float(window.mean())
        self.checked.append(round(mean, 2))
        english = 0.97 if mean > 0.5 else 0.03 if mean < -0.5 else 0.55
        return [[("<|en|>", english), ("<|es|>", 1 - english)]]

    def encode(self, window):
        return window


def test_a_group_whisper_is_sure_of_is_judged_once_and_an_unsure_one_region_by_region():
    second = media.SAMPLE_RATE
    english, spanish, pause = np.ones(2 * second, np.float32), -np.ones(2 * second, np.float32), np.zeros(second // 2)
    regions = [(0, 2 * second), (2 * second + second // 2, 4 * second + second // 2)]
    transcriber = WhisperTranscriber()
    asked_before = []

    def before(language):
        return lambda: asked_before.append(language) or language

    judge, spoken = WindowJudge(), _Spoken(before("en"))
    samples = np.concatenate([spanish, pause, spanish]).astype(np.float32)
    judged = list(transcriber._judged(judge, samples, regions, ("en", "es"), spoken))
    assert judged == [(regions[0], "es"), (regions[1], "es")] and spoken.language == "es"
    assert len(judge.checked) == 1  # the whole group's window, which its decoding then reuses
    assert asked_before == []  # judged on its own: it never waited for the speech before

    judge, spoken = WindowJudge(), _Spoken(before("en"))
    samples = np.concatenate([english, pause, spanish]).astype(np.float32)
    judged = list(transcriber._judged(judge, samples, regions, ("en", "es"), spoken))
    assert judged == [(regions[0], "en"), (regions[1], "es")] and spoken.language == "es"
    assert judge.checked[1:] == [1.0, -1.0]  # unsure of the whole: each region judged alone

    judge, spoken = WindowJudge(), _Spoken(before("es"))
    short = [(0, second)]  # too short to judge: the language of the speech before it
    assert list(transcriber._judged(judge, samples, short, ("en", "es"), spoken)) == [(short[0], "es")]
    assert judge.checked == [] and asked_before == ["en", "es"]

    judge, spoken = WindowJudge(), _Spoken(before("es"))
    english_only = list(transcriber._judged(judge, samples, regions + short, ("en",), spoken))
    assert english_only == [(regions[0], "en"), (regions[1], "en"), (short[0], "en")]
    assert judge.checked == [] and asked_before == ["en", "es"]  # one language: no check, and no waiting


@pytest.mark.model
def test_two_groups_at_a_time_write_what_one_at_a_time_does():
    """Whisper base on real speech (English, then German, with both allowed): the same lines, times
    and languages whether one group of speech regions is transcribed at a time or two."""
    from archive.core.model_files import model_path

    def lines(workers):
        transcriber = WhisperTranscriber(model_path("whisper-base"), languages=("en", "de"), workers=workers)
        return list(transcriber.transcribe(media.slices(media.decode(MULTILINGUAL), slice_seconds=20)))

    one_at_a_time = lines(1)
    assert len(one_at_a_time) > 3 and {s.language for s in one_at_a_time} == {"en", "de"}
    assert lines(2) == one_at_a_time


def test_the_encoder_reuses_a_window_it_has_just_encoded_and_never_a_different_one():
    passes = []

    class Model:
        def encode(self, features):
            passes.append(features.sum())
            return f"encoded {features.sum():.0f}"

    model = _encoding_once(Model())
    one, two, three = (np.full((80, 3000), value, dtype=np.float32) for value in (1.0, 2.0, 3.0))
    assert model.encode(one) == model.encode(one.copy()) == "encoded 240000"
    assert model.encode(two) == "encoded 480000" and model.encode(one) == "encoded 240000"  # the last two
    assert model.encode(three) == "encoded 720000" and len(passes) == 3
    assert model.encode(one) == "encoded 240000" and len(passes) == 4  # three windows back: encoded again
    changed = two.copy()
    changed[5, 7] += 1e-3
    model.encode(changed)
    assert len(passes) == 5  # one value differs: a different window


@pytest.mark.model
def test_a_language_check_and_decoding_the_same_speech_take_one_encoder_pass(monkeypatch):
    """English and Spanish allowed: the ComfyUI clip (one stretch of speech, plainly English) is
    encoded once, not twice, and says the same as when English alone is allowed (no check at all)."""
    from faster_whisper import WhisperModel

    from archive.core.model_files import model_path
    from ingest import transcribe

    passes = []
    encode = WhisperModel.encode

    def counted(self, features):
        passes.append(features.shape)
        return encode(self, features)

    monkeypatch.setattr(transcribe, "_models", {})  # loaded afresh, with the counting encoder under the cache
    monkeypatch.setattr(WhisperModel, "encode", counted)
    checked = WhisperTranscriber(model_path("whisper-base"), languages=("en", "es"))
    text = " ".join(s.text for s in checked.transcribe(media.slices(media.decode(HOTWORDS))))
    assert len(passes) == 1
    english = WhisperTranscriber(model_path("whisper-base"), languages=("en",))
    assert " ".join(s.text for s in english.transcribe(media.slices(media.decode(HOTWORDS)))) == text
    assert "folder" in text


class LanguageJudge:
    """A stand-in Whisper whose language check gives ``probabilities`` and whose decoding in each
    language has the mean log-probability in ``likelihoods``; records the languages it decoded in."""

    def __init__(self, probabilities: dict[str, float], likelihoods: dict[str, float]):
        self.probabilities, self.likelihoods, self.decoded = probabilities, likelihoods, []
        self.feature_extractor = lambda samples: np.zeros((80, 300), np.float32)
        self.feature_extractor.nb_max_frames = 3000  # type: ignore[attr-defined]
        self.model = SimpleNamespace(
            detect_language=lambda encoded: [[(f"<|{code}|>", p) for code, p in probabilities.items()]]
        )

    def encode(self, window):
        return window

    def transcribe(self, samples, language, **options):
        self.decoded.append(language)
        return iter([SimpleNamespace(avg_logprob=self.likelihoods[language])]), None


@pytest.mark.parametrize(
    ("probabilities", "likelihoods", "language", "decoded"),
    [
        # Sure (0.95 of the allowed ones' probability): the check decides, nothing is decoded to judge.
        ({"en": 0.95, "es": 0.05}, {"en": -1.4, "es": -0.8}, "en", []),
        # Unsure: Whisper's likelihood of its own text in each language decides (Spanish said, checked as English).
        ({"en": 0.55, "es": 0.45}, {"en": -1.37, "es": -0.82}, "es", ["en", "es"]),
        ({"es": 0.6, "en": 0.4}, {"en": -0.3, "es": -1.1}, "en", ["es", "en"]),
    ],
)
def test_speech_whose_language_stays_unsure_takes_the_likelier_decoding(probabilities, likelihoods, language, decoded):
    judge = LanguageJudge(probabilities, likelihoods)
    silence = np.zeros(3 * media.SAMPLE_RATE, np.float32)  # no pause inside to split it at: judged whole
    judged = list(WhisperTranscriber()._languages(judge, silence, [(0, len(silence))], ("en", "es")))
    assert judged == [((0, len(silence)), language)]
    assert judge.decoded == decoded
