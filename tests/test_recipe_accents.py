"""English said by festival's voices of other languages (recipes/synthetic-commands/accents.py).

The accented voices are real people's diphones; what they are given to say decides whether a
training clip is the command it is labelled as. Spellings here are written by hand.
"""

from __future__ import annotations

import shutil
import sys
import unicodedata
from pathlib import Path

import pytest

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "synthetic-commands"
sys.path.insert(0, str(RECIPE))

import accents  # noqa: E402
import kws_audio  # noqa: E402
from kws_audio import COMMAND_WORDS  # noqa: E402

SCRIPT_NAME = {"hi": "DEVANAGARI", "mr": "DEVANAGARI", "te": "TELUGU", "ru": "CYRILLIC"}


def test_latin_accents_respell_every_command_in_ascii_and_no_two_alike():
    assert set(accents.LATIN_RESPELLING) | set(accents.SCRIPT) == set(
        accents.ACCENT_LANGUAGE.values()
    )
    for spelling in accents.LATIN_RESPELLING.values():
        assert set(spelling) == set(COMMAND_WORDS)
        assert all(text.isascii() and text.isalpha() for text in spelling.values())
        assert len(set(spelling.values())) == len(spelling)


@pytest.mark.parametrize("language", sorted(accents.SCRIPT))
def test_other_scripts_write_every_command_in_their_own_letters_and_no_two_alike(language):
    said = [accents.accent_text(word, language) for word in COMMAND_WORDS]
    assert len(set(said)) == len(said)
    for text in said:
        names = {unicodedata.name(char).split()[0] for char in text}
        assert names == {SCRIPT_NAME[language]}, (text, names)


@pytest.mark.parametrize(
    ("word", "language", "expected"),
    [
        ("five", "hi", "फाइव्"),  # final virama: without it the voice says "fa-i-va"
        ("left", "hi", "लेफ्ट्"),  # a cluster joined by the virama
        ("eight", "te", "ఎయిట్"),
        ("stop", "te", "స్టాప్"),
        ("seven", "ru", "севен"),  # е after a consonant
        ("eight", "ru", "эйт"),  # э alone
        ("four", "ru", "фор"),  # the language's own spelling of the command
        ("four", "hi", "फोर्"),
    ],
)
def test_commands_are_written_as_the_language_writes_english_loanwords(word, language, expected):
    assert accents.accent_text(word, language) == expected


def test_latin_voices_read_other_words_as_written_and_commands_respelled():
    assert accents.accent_text("window", "cs") == "window"
    assert accents.accent_text("nine", "cs") == "najn"
    assert accents.accent_text("nine", "it") == "nain"


@pytest.mark.skipif(not shutil.which("espeak-ng"), reason="espeak-ng is not installed")
def test_other_words_are_transliterated_from_english_phonemes():
    assert accents.english_sounds("three") == (("th", "r", "ii"),)
    assert accents.english_sounds("all set") == (("o", "l"), ("s", "e", "t"))
    assert accents.accent_text("church", "hi") == "चर्च्"
    assert accents.accent_text("window", "ru") == "уиндоу"
    assert accents.accent_text("music", "te") == "మ్యూజిక్"


def test_speech_span_skips_festivals_leading_and_trailing_pauses():
    segments = "#\n0.2800 100 pau\n0.3271 100 y\n0.4103 100 eh\n0.5208 100 s\n2.2008 100 pau\n"
    assert kws_audio._speech_span(segments) == (0.28, 0.5208)
    czech = "#\n0.1000 100 #\n0.1656 100 j\n0.3646 100 s\n0.5775 100 #\n"
    assert kws_audio._speech_span(czech) == (0.1, 0.3646)
    assert kws_audio._speech_span("#\n0.5 100 pau\n") == (0.0, 0.0)


def test_noisy_voices_are_cut_at_pauses_and_slowed(monkeypatch):
    said = []

    def fake_festival(text, voice, stretch, cut_pauses=False):
        said.append((text, voice, stretch, cut_pauses))

    monkeypatch.setattr(kws_audio, "synthesize_festival", fake_festival)
    for voice in ("hindi_NSK_diphone", "msu_ru_nsh_clunits", "czech_krb"):
        kws_audio.synthesize(kws_audio.Speaker("accent", voice, voice), "five", 1.0, 1.0)
    assert said == [
        ("फाइव्", "hindi_NSK_diphone", 1.5, True),
        ("файв", "msu_ru_nsh_clunits", 1.0, False),
        ("fajv", "czech_krb", 1.0, False),
    ]


@pytest.mark.skipif(
    "hindi_NSK_diphone" not in kws_audio.festival_voices(("hindi_NSK_diphone",)),
    reason="festvox-hi-nsk is not installed",
)
def test_hindi_voice_says_a_command_without_its_two_seconds_of_room_noise():
    speaker = kws_audio.Speaker("accent", "hindi_NSK_diphone", "hindi_NSK_diphone")
    raw, rate = kws_audio.synthesize(speaker, "yes", 1.0, 1.0)
    assert 0.15 < len(raw) / rate < 0.5  # text2wave alone gives 2.2 s, 1.7 s of it a pause


def test_espeak_accents_spell_for_languages_they_have_and_leave_russian_unheard():
    spellings = set(accents.LATIN_RESPELLING) | set(accents.SCRIPT)
    assert set(accents.ESPEAK_ACCENT_SPELLING.values()) <= spellings
    assert "ru" not in accents.ESPEAK_ACCENT_SPELLING  # festival's Russian voice is held out


def test_espeak_accent_speaker_says_the_respelled_word_in_its_languages_voice(monkeypatch):
    said = []

    def fake_espeak(text, voice, speed, pitch, amplitude=100):
        said.append((text, voice))

    monkeypatch.setattr(kws_audio, "synthesize_espeak", fake_espeak)
    for language, text in (("de", "nine"), ("hi", "nine"), ("es", "window")):
        speaker = kws_audio.Speaker("espeak-accent", language, "m3")
        assert speaker.voice == f"{language}+m3"
        kws_audio.synthesize(speaker, text, 160, 50)
    assert said == [("najn", "de+m3"), ("नाइन्", "hi+m3"), ("window", "es+m3")]


@pytest.mark.skipif(not shutil.which("espeak-ng"), reason="espeak-ng is not installed")
def test_espeak_accent_clip_is_a_word_that_fits_in_a_second():
    import make_dataset
    import numpy as np

    rng = np.random.default_rng(0)
    speaker = kws_audio.Speaker("espeak-accent", "te", "f2")
    spec = make_dataset.plan_word_clip(rng, speaker, "seven", "seven", "train", 0, [])
    assert spec.path.startswith("audio/train/seven/espeak-accent-te-f2_seven_")
    assert 100 <= spec.speed <= 250  # espeak-ng words per minute, not a festival stretch
    word, attempts = kws_audio.synthesize_word(spec)
    assert word is not None and 0.15 * 16_000 < len(word) <= kws_audio.MAX_WORD_SAMPLES


def test_add_accented_takes_festival_voices_or_espeak_languages_not_both(monkeypatch, capsys):
    import add_accented

    data = RECIPE / "no-such-data"
    argv = [
        "add_accented.py",
        str(data),
        "--voices",
        "czech_krb",
        "--espeak",
        "cs",
        "--test",
        "t.csv",
    ]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as stop:
        add_accented.main()
    assert stop.value.code == 2
    assert "--voices and --espeak: choose one" in capsys.readouterr().err


def test_phoneme_accent_keeps_the_word_at_share_0_and_swaps_every_sound_at_share_1():
    import numpy as np

    five, three = "fˈIv", "θɹˈi"  # misaki's phonemes, as hibari's G2P writes them
    assert accents.accent_phonemes(five, np.random.default_rng(0), share=0.0) == five
    for seed in range(20):
        said = accents.accent_phonemes(f"{three} wˈʌn {five}", np.random.default_rng(seed), 1.0)
        spoken_three, spoken_one, spoken_five = said.split(" ")
        assert spoken_three[0] in "sf" and "ɹ" not in said  # never "tree": that is _unknown_
        assert spoken_one[0] in "vʋ" and "ʌ" not in spoken_one
        assert spoken_five.startswith("fˈa") and spoken_five.endswith("f")  # final devoicing
    # one replacement per rule and take: both r's of a take sound alike
    for seed in range(20):
        said = accents.accent_phonemes("ɹˈIt ɹˈIt", np.random.default_rng(seed), 0.5)
        first, second = said.split(" ")
        assert first == second


def test_accented_hibari_take_is_the_same_twice_and_differs_from_the_plain_voice():
    pytest.importorskip("hibari")
    import numpy as np

    once, _ = kws_audio.synthesize_hibari("three", "heart-accent", 1.1)
    again, _ = kws_audio.synthesize_hibari("three", "heart-accent", 1.1)
    plain, _ = kws_audio.synthesize_hibari("three", "heart", 1.1)
    assert np.array_equal(once, again)
    assert len(once) != len(plain) or not np.allclose(once, plain)
