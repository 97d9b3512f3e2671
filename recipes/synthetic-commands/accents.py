"""English as festival's voices of other languages say it: real people's diphones, an accent.

Debian's festival voices for Czech, Italian, Finnish (Latin script), Hindi, Marathi, Telugu and
Russian are cut from recordings of real people. They read English words as their own language
would: the commands hand-respelled (``RESPELLING``), other words either as written (Latin-script
voices, by their own letter-to-sound rules) or transliterated from espeak-ng's English phonemes
into the voice's own script (voices that cannot read Latin letters).

    accent_text("five", "hi")     # 'फाइव'
    accent_text("window", "ru")   # 'уиндоу'
"""

from __future__ import annotations

import functools
import re
import subprocess
from dataclasses import dataclass

# festival voice -> language. Czech dita, krb (a child), machac, ph; Italian lp, pc; Finnish lj,
# mv; one man (NSK) in Hindi, Marathi and Telugu; Russian nsh. (The Catalan HTS voice ignores
# the duration stretch and starts with half a second of breath noise: left out.)
ACCENT_LANGUAGE = {
    "czech_dita": "cs", "czech_krb": "cs", "czech_machac": "cs", "czech_ph": "cs",
    "lp_diphone": "it", "pc_diphone": "it", "suo_fi_lj_diphone": "fi", "hy_fi_mv_diphone": "fi",
    "hindi_NSK_diphone": "hi", "marathi_NSK_diphone": "mr", "telugu_NSK_diphone": "te",
    "msu_ru_nsh_clunits": "ru",
}  # fmt: skip
# espeak-ng's voices of other languages -> the spelling they are given (a language close enough
# to read it as its own). Cyrillic-script languages are left out: Russian stays a language no
# stage hears (its festival voice is a held-out set).
ESPEAK_ACCENT_SPELLING = {
    "cs": "cs", "sk": "cs", "pl": "cs", "hr": "cs", "sl": "cs", "de": "cs",
    "it": "it", "es": "it", "pt": "it", "ro": "it", "fi": "fi", "et": "fi", "hu": "fi",
    "hi": "hi", "mr": "hi", "ne": "hi", "te": "te",
}  # fmt: skip
# The person behind a voice, where one speaks several languages (splits go by person).
ACCENT_SPEAKER = {"hindi_NSK_diphone": "NSK", "marathi_NSK_diphone": "NSK",
                  "telugu_NSK_diphone": "NSK"}  # fmt: skip

# Voices whose pauses are recorded room noise and run on for 1-2 s: cut at festival's pauses.
CUT_AT_PAUSES = {"hindi_NSK_diphone", "marathi_NSK_diphone", "telugu_NSK_diphone"}

# Voices that speak fast for English words (NSK's "yes" takes 0.17 s): their duration stretch.
ACCENT_STRETCH = {"hindi_NSK_diphone": 1.5, "marathi_NSK_diphone": 1.5, "telugu_NSK_diphone": 1.5}

# Latin-script languages: the commands in the language's own spelling. ASCII only: festival
# reads Czech text as ISO-8859-2.
LATIN_RESPELLING = {
    "cs": dict(yes="jes", no="nou", up="ap", down="daun", left="left", right="rajt", on="on",
               off="of", stop="stop", go="gou", zero="zirou", one="uan", two="tu", three="tri",
               four="for", five="fajv", six="siks", seven="sevn", eight="ejt", nine="najn"),
    "it": dict(yes="ies", no="nou", up="ap", down="daun", left="left", right="rait", on="on",
               off="of", stop="stop", go="gou", zero="ziro", one="uan", two="tu", three="tri",
               four="for", five="faiv", six="sics", seven="seven", eight="eit", nine="nain"),
    "fi": dict(yes="jes", no="nou", up="ap", down="daun", left="left", right="rait", on="on",
               off="of", stop="stop", go="gou", zero="siirou", one="uan", two="tuu", three="trii",
               four="foo", five="faiv", six="siks", seven="seven", eight="eit", nine="nain"),
}  # fmt: skip

# Other scripts: the commands as sounds (the tokens below), written in each script by `render`.
# Consonants: p b t d k g f v th dh s z sh zh h m n ng l r w y ch j. Vowels: a (as in "up"),
# aa, i, ii, u, uu, e, o (as in "on"), oh (as in "go"), ai, au, ei, oi, ae (as in "cat").
COMMAND_SOUNDS = {
    "yes": "y e s", "no": "n oh", "up": "a p", "down": "d au n", "left": "l e f t",
    "right": "r ai t", "on": "o n", "off": "o f", "stop": "s t o p", "go": "g oh",
    "zero": "z ii r oh", "one": "w a n", "two": "t uu", "three": "th r ii", "four": "f oh r",
    "five": "f ai v", "six": "s i k s", "seven": "s e v e n", "eight": "ei t", "nine": "n ai n",
}  # fmt: skip
# Where a language writes a command otherwise ("фор", not "фоур").
COMMAND_SOUNDS_BY_LANGUAGE = {"ru": {"four": "f o r"}}
VOWELS = ("a", "aa", "i", "ii", "u", "uu", "e", "o", "oh", "ai", "au", "ei", "oi", "ae")
CONSONANTS = ("p", "b", "t", "d", "k", "g", "f", "v", "th", "dh", "s", "z", "sh", "zh", "h",
              "m", "n", "ng", "l", "r", "w", "y", "ch", "j")  # fmt: skip


@dataclass(frozen=True)
class Script:
    """How one writing system spells the sound tokens.

    ``vowels`` maps a vowel to (its form alone, its form after a consonant); ``virama`` joins
    two consonants (empty for an alphabet); ``final_virama`` ends a word on a bare consonant.
    """

    consonants: dict[str, str]
    vowels: dict[str, tuple[str, str]]
    virama: str = ""
    final_virama: bool = False


def _pairs(text: str) -> dict[str, tuple[str, str]]:
    """'a=अ/ aa=आ/ा' -> {'a': ('अ', ''), 'aa': ('आ', 'ा')}."""
    pairs = (item.split("=") for item in text.split())
    return {key: tuple(forms.split("/")) for key, forms in pairs}


def _letters(text: str) -> dict[str, str]:
    return dict(item.split("=") for item in text.split())


DEVANAGARI = Script(  # Hindi and Marathi; English t/d are retroflex in Indian English
    consonants=_letters(
        "p=प b=ब t=ट d=ड k=क g=ग f=फ v=व th=थ dh=द s=स z=ज sh=श zh=ज h=ह "
        "m=म n=न ng=ंग l=ल r=र w=व y=य ch=च j=ज"
    ),
    vowels=_pairs(
        "a=अ/ aa=आ/ा i=इ/ि ii=ई/ी u=उ/ु uu=ऊ/ू e=ए/े o=ऑ/ॉ oh=ओ/ो ai=आइ/ाइ "
        "au=आउ/ाउ ei=ए/े oi=ऑय/ॉय ae=ऐ/ै"
    ),
    virama="्",
    final_virama=True,  # the voices would add the inherent vowel: "yes" as "yesa"
)
TELUGU = Script(
    consonants=_letters(
        "p=ప b=బ t=ట d=డ k=క g=గ f=ఫ v=వ th=థ dh=ద s=స z=జ sh=శ zh=జ h=హ "
        "m=మ n=న ng=ంగ l=ల r=ర w=వ y=య ch=చ j=జ"
    ),
    vowels=_pairs(
        "a=అ/ aa=ఆ/ా i=ఇ/ి ii=ఈ/ీ u=ఉ/ు uu=ఊ/ూ e=ఎ/ె o=ఆ/ా oh=ఓ/ో ai=ఐ/ై au=ఔ/ౌ ei=ఎయి/ెయి oi=ఆయి/ాయి ae=ఏ/ే"
    ),
    virama="్",
    final_virama=True,
)
CYRILLIC = Script(  # Russian; "e" after a consonant is written е, elsewhere э
    consonants=_letters(
        "p=п b=б t=т d=д k=к g=г f=ф v=в th=с dh=з s=с z=з sh=ш zh=ж h=х "
        "m=м n=н ng=нг l=л r=р w=у y=й ch=ч j=дж"
    ),
    vowels=_pairs(
        "a=а/а aa=а/а i=и/и ii=и/и u=у/у uu=у/у e=э/е o=о/о oh=оу/оу ai=ай/ай "
        "au=ау/ау ei=эй/ей oi=ой/ой ae=э/е"
    ),
)
SCRIPT = {"hi": DEVANAGARI, "mr": DEVANAGARI, "te": TELUGU, "ru": CYRILLIC}

# espeak-ng's English phoneme mnemonics (``espeak-ng -x``) as sound tokens; others are dropped.
ESPEAK_SOUNDS = {
    "T": "th", "D": "dh", "S": "sh", "Z": "zh", "N": "ng", "j": "y", "tS": "ch", "dZ": "j",
    "t#": "t", "t2": "t", "n-": "n", "@L": "a l", "I": "i", "I2": "i", "I#": "i", "i:": "ii",
    "i": "ii", "E": "e", "a": "ae", "aa": "ae", "V": "a", "@": "a", "@2": "a", "@-": "a",
    "a#": "a", "3": "a r", "3:": "a r", "0": "o", "O:": "o", "O2": "o", "O": "o", "A:": "aa",
    "A@": "aa r", "O@": "oh r", "o@": "oh r", "e@": "e r", "i@": "i a r", "i@3": "i a r",
    "U@": "u a r", "U": "u", "u:": "uu", "eI": "ei", "aI": "ai", "aI3": "ai", "aI@": "ai a",
    "aU": "au", "oU": "oh", "OI": "oi",
}  # fmt: skip


def render(sounds: list[str], script: Script) -> str:
    """One word's sound tokens written in ``script``."""
    out, after_consonant = [], False
    for sound in sounds:
        if sound in script.vowels:
            alone, after = script.vowels[sound]
            out.append(after if after_consonant else alone)
            after_consonant = False
        else:
            if after_consonant:
                out.append(script.virama)
            out.append(script.consonants[sound])
            after_consonant = True
    if after_consonant and script.final_virama:
        out.append(script.virama)
    return "".join(out)


@functools.lru_cache(maxsize=4096)
def english_sounds(text: str) -> tuple[tuple[str, ...], ...]:
    """Sound tokens of each word of ``text``, from espeak-ng's US English phonemes."""
    proc = subprocess.run(["espeak-ng", "-q", "-x", "--sep= ", "-v", "en-us", text],
                          capture_output=True, text=True, check=True)  # fmt: skip
    words = []
    for word in proc.stdout.split("  "):
        sounds = []
        for phoneme in word.split():
            phoneme = phoneme.strip("',")
            mapped = ESPEAK_SOUNDS.get(phoneme, phoneme)
            sounds += [s for s in mapped.split() if s in VOWELS or s in CONSONANTS]
        if sounds:
            words.append(tuple(sounds))
    return tuple(words)


def accent_text(text: str, language: str) -> str:
    """What a ``language`` voice is given to say English ``text``: a command respelled, other
    words as written (Latin script) or transliterated into the language's script."""
    if language in LATIN_RESPELLING:
        return LATIN_RESPELLING[language].get(text, text)
    script = SCRIPT[language]
    if text in COMMAND_SOUNDS:
        sounds = COMMAND_SOUNDS_BY_LANGUAGE.get(language, {}).get(text, COMMAND_SOUNDS[text])
        return render(sounds.split(), script)
    return " ".join(render(list(word), script) for word in english_sounds(text))


# Phoneme rules for hibari's voice (misaki's alphabet: A = eɪ, I = aɪ, O = oʊ, W = aʊ, ɚ = r-coloured
# schwa): sounds that speakers of Czech, Italian, Russian, Hindi and the like carry into English.
# Each take of an accented speaker uses about half of them, each with one of its replacements.
# θ never becomes t: "tree" is a near-miss of "three" that `_unknown_` holds.
PHONEME_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ɹ", ("r", "ɾ", "ʁ")),  # trilled, tapped or uvular r
    ("ɚ", ("əɾ", "ɛr", "a")),
    ("O", ("o", "oː")),  # no glide in the diphthongs
    ("A", ("e", "eː")),
    ("I", ("aj", "ai")),
    ("W", ("au", "ɐu")),
    ("ɪ", ("i",)),  # lax vowels made tense
    ("ʊ", ("u",)),
    ("æ", ("ɛ", "a")),
    ("ʌ", ("a", "ɐ", "o")),
    ("ɑ", ("a",)),
    ("ɔ", ("o",)),
    ("ə", ("e", "a", "o")),  # a full vowel for the reduced one
    ("ɛ", ("e",)),
    ("w", ("v", "ʋ")),
    ("θ", ("s", "f")),
    ("ð", ("d", "z")),
    ("h", ("x", "")),
    ("i", ("iː",)),
    ("u", ("uː",)),
)
FINAL_DEVOICING = {"z": "s", "d": "t", "v": "f", "ɡ": "k", "b": "p"}


def accent_phonemes(phonemes: str, rng, share: float = 0.5) -> str:
    """``phonemes`` (misaki's alphabet) as an accented speaker says them: each of
    ``PHONEME_RULES`` applies with probability ``share`` (one replacement drawn for all its
    sounds), and word-final voiced obstruents lose their voice with the same probability."""
    out = phonemes
    swaps = {}
    for sound, replacements in PHONEME_RULES:
        if rng.random() < share:
            swaps[sound] = replacements[int(rng.integers(len(replacements)))]
    out = "".join(swaps.get(c, c) for c in out)  # one pass: a replacement is not replaced again
    if rng.random() < share:
        final = re.compile(f"[{''.join(FINAL_DEVOICING)}](?=[ˈˌː]*(?:[\\s.,!?;:]|$))")
        out = final.sub(lambda m: FINAL_DEVOICING[m.group(0)], out)
    return out
