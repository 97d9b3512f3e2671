"""Word lists of the synthetic-commands recipe: the `_unknown_` vocabulary and babble sentences.

`_unknown_` holds near-misses of every command (heard in training), other words and short
phrases split by word between train / validation / test (test words are never heard in training),
and a few words pinned to the held-out share because they are the non-commands that the earlier
bundled model accepted (hello, music, answer, front, center). Exact homophones of a command
(won, to, too, for, fore, know, write, rite, ate, nein) are left out: nothing in the sound tells
them from the command, so labelling them `_unknown_` would only teach the model noise.
"""

from __future__ import annotations

import re
from pathlib import Path

from kws_audio import COMMAND_WORDS

NEAR_MISSES = {
    "yes": "yet yell guess mess less yeast chess bless yesterday",
    "no": "snow toe note nose now low new gnaw nope",
    "up": "cup pup hop upper puppy pop ape oops",
    "down": "town dawn clown crown done gown noun downtown",
    "left": "lift loft theft laughed lest cleft deft leaf lefty",
    "right": "light bright ride white fight rate rice wrote ripe",
    "on": "an in own aunt john con don honest",
    "off": "of cough oft often awful scoff tough offer",
    "stop": "step shop top drop stomp stock spot strap",
    "go": "goat ghost gold grow guy gore coat gosh",
    "zero": "hero zeal zebra xerox sierra nero rear zoo zoom",
    "one": "wand want once when wonder sun run none",
    "two": "tooth tomb tune chew shoe tuba twin",
    "three": "tree free thee throw thread sea flee theme",
    "four": "fort forward floor fork form door fourth forty fourteen",
    "five": "fife fine hive dive side file size vibe wife",
    "six": "sick sex sits mix fix sticks kicks seeks sixty",
    "seven": "heaven severn several eleven seventy kevin sermon",
    "eight": "hate ace aid eighty late gate bait date",
    "nine": "mine line nigh nice night knife pine ninety",
}
# Numbers and Speech Commands' own extra words: the closest confusions a digit model meets.
NUMBERS_AND_SC = (
    "ten twelve thirteen fifteen twenty thirty fifty hundred thousand million "
    "backward bed bird cat dog follow happy house learn marvin sheila visual wow"
)
OTHER_WORDS = """
apple about above across action address after again against agree air all almost alone along
always amazing animal another any apartment april area arm around arrive art ask august autumn
away baby back bad bag ball banana bank basket bath beach bean bear beautiful because become
before begin behind believe bell below best better between big bike bill black blue board boat
body book bottle bottom box boy bread break breakfast bridge bring brother brown build bus busy
butter button buy cabin cake call camera candle car card care carry case castle catch chair
chance change cheap cheese chicken child chocolate choose church city class clean clear clock
close cloud coffee cold color come computer cook cool corner country cousin cover cow cream
cross cup dance danger dark daughter day dear decide deep desk dinner doctor dollar dream
dress drink drive during early earth easy eat edge egg empty engine enjoy enough evening every
example eye face fact family famous farm fast father feel field final finger finish fire first
fish flag flower fly food foot forest forget friend fruit full funny garden gentle giant girl
glass glove good grass great green ground group grow half hall hand happen hard hat head hear
heart heavy help here high hill hold holiday home honey hope horse hospital hot hour hungry
husband ice idea important inside island jacket jelly job join juice jump just keep key kind
king kitchen kite lady lake lamp land language large laugh lazy leader lemon letter library
life listen little long lose loud love lunch machine magic mail make man many map market
matter maybe meal meat meeting middle milk minute mirror money month moon morning mother
mountain mouse mouth move movie much name narrow nature near neck need never next nice noise
north number ocean orange other outside page paint paper parent park party pencil people
pepper person phone piano picture piece pillow place plant plate play please pocket point
police potato power present pretty price problem purple question quick quiet rabbit radio rain
read ready really reason red remember rest river road rock room round rule safe salt same sand
school science season second secret sell send sentence shape sheep shirt short shoulder simple
sing sister sit sleep slow small smile soft soup south space speak special spring square
station stay still stone story street strong student study sugar summer supper sweet table
tail talk teacher team teeth thank thing think thirsty ticket tiger time tired today together
tomorrow tonight travel tuesday turn uncle under until use usually valley very village visit
voice wait walk wall warm wash watch water weather week welcome west wet wheel whisper window
winter wish woman wood word work world yellow young
"""
# Letter names as a speaker says them (spelled so every engine reads the name, not the letter):
# extra training `_unknown_` clips (add_unknown.py). Real people's letters were taken for commands
# (C, P, V, Z -> three; A, E, H, S, X -> eight). "oh" is left out: people read 0 as "oh".
LETTER_NAMES = (
    "ay", "bee", "see", "dee", "ee", "eff", "gee", "aitch", "eye", "jay", "kay", "ell", "em",
    "en", "pee", "queue", "are", "ess", "tee", "you", "vee", "double you", "ex", "why", "zee",
    "zed",
)  # fmt: skip
# The non-commands the earlier bundled model accepted; always in the held-out share.
PINNED_HELD_OUT = ("hello", "music", "answer", "front", "center")
PHRASES = (
    "thank you", "good morning", "excuse me", "what time is it", "see you later", "hi there",
    "how are you", "never mind", "all set", "wait a bit", "good night", "sounds good", "let me see",
    "well done", "oh dear", "come here", "nice try", "just a minute", "bless you", "take care",
    "what is that", "pass the salt", "call me", "very well", "hurry please", "i think so",
    "maybe later", "happy birthday", "help me", "what happened", "the weather", "open the door",
)  # fmt: skip
# Background talkers: sentences with no command word and no homophone of one.
BABBLE_SENTENCES = (
    "the weather was warm and the children played in the garden all afternoon",
    "she bought bread and cheese at the market near the station",
    "we should ask the teacher about the homework before friday",
    "my brother likes coffee with milk and a little sugar",
    "the library closes early during the summer holidays",
    "they walked along the river until the sun went behind the hills",
    "please remember the meeting with the manager after lunch",
    "a small dog was sleeping under the kitchen table",
    "the train was late because of the snow in the valley",
    "he painted the walls of the bedroom a pale yellow",
    "the museum has a famous collection of old maps",
    "our neighbours are building a new fence around the yard",
    "the soup needs more salt and pepper i think",
    "she is reading a long book about the history of the city",
    "we watched a movie and then had pizza with friends",
    "the children were singing in the hall with their teacher",
    "it rained all morning so the match was cancelled",
    "he keeps his keys in the pocket of his jacket",
    "the market sells apples pears and fresh vegetables",
    "my sister is learning the piano at the music school",
    "the hotel was clean and the staff were friendly",
    "we need milk eggs butter and bread from the shop",
    "the doctor said that the patient should rest at home",
    "a bird was singing outside the window at dawn",
    "the bus stopped near the bridge and everybody got out",
    "she sent a letter with a photo of her cousin",
    "the garden is full of roses and tall grass",
    "he is cooking dinner with the whole family tonight",
    "the students are studying in the hall all evening",
    "the ship sailed slowly across the calm blue sea",
    "that restaurant serves the best fish in the town",
    "my grandmother tells stories about the old days",
    "the farmer keeps sheep and cows in the field",
    "we are planning a trip into the mountains in spring",
    "the phone was ringing but nobody answered it",
    "they painted a picture of the harbour at sunset",
    "the baby is sleeping so please speak quietly",
    "the shop sells shoes hats and warm winter clothes",
    "he always reads the newspaper with his breakfast",
    "the castle stands high above the village",
    "the kitchen smells of fresh bread and cinnamon",
    "the meeting was about the budget and the schedule",
    "she likes walking in the park with her friends",
    "the cat is chasing a mouse across the carpet",
    "the students asked many questions about the topic",
    "we visited the museum and then had tea",
    "the wind was blowing hard against the windows",
    "he plays football with his friends every saturday",
    "the teacher explained the lesson very clearly",
    "there is a small bakery at the corner of the street",
)  # fmt: skip
# Command words and their exact homophones: no unknown word or babble sentence may hold them.
FORBIDDEN = {
    "yes", "no", "know", "up", "down", "left", "right", "write", "rite", "wright", "on", "off",
    "stop", "go", "zero", "one", "won", "two", "to", "too", "three", "four", "for", "fore",
    "five", "six", "seven", "eight", "ate", "nine", "nein",
}  # fmt: skip


def tokens(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def unknown_vocabulary(rng) -> dict[str, list[str]]:
    """`_unknown_` texts by split: near-misses and numbers in train; other words and phrases
    partitioned 70/15/15 (pinned words in test), so validation and test words are unseen."""
    near = sorted({w for group in NEAR_MISSES.values() for w in group.split()})
    numbers = sorted(set(NUMBERS_AND_SC.split()))
    pinned = set(PINNED_HELD_OUT)
    others = sorted(set(OTHER_WORDS.split()) - set(near) - set(numbers) - pinned)
    others += list(PHRASES)
    order = [others[i] for i in rng.permutation(len(others))]
    n_hold = round(0.15 * len(order))
    result = {
        "train": sorted(set(near + numbers + order[2 * n_hold :])),
        "validation": sorted(order[:n_hold]),
        "test": sorted(set(order[n_hold : 2 * n_hold]) | pinned),
    }
    for texts in result.values():
        bad = [t for t in texts if FORBIDDEN & set(tokens(t))]
        assert not bad, f"command words in the unknown vocabulary: {bad}"
    return result


def dictionary_words(
    dictionary: Path,
    word_list: Path,
    count: int,
    rng,
    exclude: set[str] = frozenset(),
    held_out: set[str] = frozenset(),
) -> list[str]:
    """``count`` words of ``word_list`` (one word a line; capitalised names are passed over)
    that a CMU-style pronouncing dictionary (``word PHONES`` lines, ``word(2)`` for a second
    pronunciation, as pocketsphinx ships it) holds and that do not sound like a command.

    Passed over: a word any of whose pronunciations is a command's, or a command's plus one of
    S Z T D (ones, nines, stopped); words outside 3-10 plain letters or 3-6 phones (short words
    are the ones a keyword spotter confuses); ``exclude``; and ``held_out`` words with every
    word that begins with one of 3 letters or more (asking after ask), so held-out words stay
    unheard."""
    listed = set(word_list.read_text(encoding="utf-8", errors="replace").split())
    stems = tuple(w for w in held_out if len(w) >= 3)  # "a" and "i" would bar whole letters
    prons: dict[str, set[tuple[str, ...]]] = {}
    for line in dictionary.read_text(encoding="utf-8", errors="replace").splitlines():
        head, _, phones = line.partition(" ")
        word = re.sub(r"\(\d+\)$", "", head)
        prons.setdefault(word, set()).add(tuple(re.sub(r"\d", "", phones).split()))
    too_close = set()
    for command in (w for w in COMMAND_WORDS if w in prons):
        for pron in prons[command]:
            too_close |= {pron} | {(*pron, tail) for tail in ("S", "Z", "T", "D")}
    candidates = sorted(
        w for w, p in prons.items()
        if w in listed and re.fullmatch(r"[a-z]{3,10}", w) and w not in FORBIDDEN
        and w not in exclude and w not in held_out and not w.startswith(stems)
        and 3 <= min(map(len, p)) <= 6 and not p & too_close
    )  # fmt: skip
    if count > len(candidates):
        raise ValueError(f"{dictionary} has {len(candidates)} usable words, {count} asked for")
    return sorted(candidates[int(i)] for i in rng.choice(len(candidates), count, replace=False))


def babble_sentences(split: str) -> list[str]:
    """Background-talker sentences of a split (train: 35, validation / test: the other 15)."""
    for sentence in BABBLE_SENTENCES:
        assert not FORBIDDEN & set(tokens(sentence)), sentence
    return list(BABBLE_SENTENCES[:35] if split == "train" else BABBLE_SENTENCES[35:])
