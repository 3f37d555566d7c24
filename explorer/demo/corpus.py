"""Deterministic TinyStories-style synthetic children's stories with concept spans.

About two stories in three are hand-written tales (`explorer.demo.tales`: 706 templates in 22 theme
files, with alternatives for most phrases), which carry the collocations of real children's stories.
The others are written sentence by sentence from templates grouped into story shapes (a lost toy, a
birthday, a storm, a first-person diary, a fable...) and by a small grammar (`explorer.demo.grammar`),
which put every word of the basic vocabulary of children's stories (`explorer.demo.lexicon`) in many
syntactic roles. Slots are filled from that vocabulary. Concept spans are found afterwards by scanning
the finished text, so every occurrence of a concept word is labelled: ``text[start:end]`` is a name, a
pronoun, a concept word (or its plural), or a quoted passage including both double quotes.

Template mini-language used by ``_Builder.say``:

* ``{A}``, ``{B}``, ``{P}``: the hero, the second character, the hero's parent or grandparent;
* ``{A.he}``, ``{A.him}``, ``{A.his}``, ``{A.girl}``, ``{A.brother}``, ``{A.son}``: gendered words;
* ``{pet}``, ``{obj}``, ``{place}`` ...: per-story slots (see ``_new_builder``), fixed for a story,
  also in a form: ``{food|np}``, ``{animal|s}``;
* ``{~animal}``, ``{~food|np}``, ``{~motion|past}``: a fresh random word of a pool, in a form
  (``s`` plural, ``np`` with its article, verb forms ``base``/``s``/``past``/``ing``/``pp``);
* ``{say}``: a random line of dialogue; ``{num}``: a random number word;
* an upper-case first letter in a key (``{A.He}``, ``{Place}``) or a leading ``^`` capitalises.

Only ``random.Random`` methods are used for choices, so a seed gives identical stories in every process.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from explorer.demo.grammar import Grammar
from explorer.demo.lexicon import (
    ABSTRACT,
    ADJECTIVES,
    BOY_NAMES,
    CLOTHES,
    COMPARATIVES,
    CONCEPT_WORDS,
    GIRL_NAMES,
    HAPPY_ACTS,
    INTRANSITIVE_VERBS,
    LOOK_ADJECTIVES,
    MAKING_VERBS,
    MISC_NOUNS,
    MOTION_VERBS,
    NATURE,
    NUMBER_WORDS,
    PEOPLE,
    PERSON_VERBS,
    PLACE_PREPOSITIONS,
    PRONOUNS,
    QUIET_ACTS,
    SENSE_VERBS,
    SIZE_ADJECTIVES,
    SUPERLATIVES,
    THING_VERBS,
    THINGS_AT_HOME,
    TIME_OPENERS,
    TOY_VERBS,
    UNCOUNTABLE,
    VERBS,
    plural,
)
from explorer.demo.tales import load_tales, render_tale

__all__ = [
    "BOY_NAMES",
    "CONCEPTS",
    "GIRL_NAMES",
    "LEXICON",
    "NUMBER_WORDS",
    "PRONOUNS",
    "SHAPES",
    "LabeledStory",
    "generate_stories",
    "generate_story",
    "is_lexicon_word",
    "label_spans",
    "plural",
    "token_concept_labels",
]

CONCEPTS: tuple[str, ...] = (
    "name",
    "pronoun",
    "quote",
    "colour",
    "animal",
    "number",
    "place",
    "feeling",
    "object",
    "family",
    "body",
    "food",
    "weather",
    "vehicle",
    "time",
)
LEXICON: dict[str, tuple[str, ...]] = CONCEPT_WORDS
_NAMES = frozenset(GIRL_NAMES) | frozenset(BOY_NAMES)
_WORD_TO_CONCEPTS: dict[str, tuple[str, ...]] = {}
for _concept, _words in LEXICON.items():
    for _word in _words:
        for _form in {_word.lower(), plural(_word).lower()}:
            _WORD_TO_CONCEPTS[_form] = (*_WORD_TO_CONCEPTS.get(_form, ()), _concept)


def is_lexicon_word(concept: str, word: str) -> bool:
    """True when ``word`` (any case) is a lexicon word of ``concept`` or its plural."""
    return concept in _WORD_TO_CONCEPTS.get(word.lower(), ())


@dataclass(frozen=True)
class LabeledStory:
    """A story plus concept -> sorted list of exact ``[start, end)`` character spans."""

    text: str
    spans: dict[str, list[tuple[int, int]]]
    shape: str = ""


def label_spans(text: str) -> dict[str, list[tuple[int, int]]]:
    """Every concept's spans in ``text``: names, pronouns, lexicon words (and plurals), quoted passages."""
    spans: dict[str, list[tuple[int, int]]] = {c: [] for c in CONCEPTS}
    for match in re.finditer(r"[A-Za-z]+", text):
        word, span = match.group(), (match.start(), match.end())
        if word in _NAMES:
            spans["name"].append(span)
        elif word.lower() in PRONOUNS:
            spans["pronoun"].append(span)
        else:
            for concept in _WORD_TO_CONCEPTS.get(word.lower(), ()):
                spans[concept].append(span)
    marks = [i for i, ch in enumerate(text) if ch == '"']
    assert len(marks) % 2 == 0, f"unbalanced quotes: {text}"
    spans["quote"] = [(marks[i], marks[i + 1] + 1) for i in range(0, len(marks), 2)]
    return spans


# ----------------------------------------------------------------------------- word pools

_THINGS = LEXICON["object"]
_TOYS = (
    "ball",
    "kite",
    "doll",
    "boat",
    "drum",
    "balloon",
    "teddy",
    "puzzle",
    "robot",
    "toy",
    "bike",
    "train",
)
_PETS = (
    "cat",
    "dog",
    "bird",
    "rabbit",
    "puppy",
    "kitten",
    "fish",
    "turtle",
    "mouse",
    "parrot",
    "hen",
    "duck",
)
_WILD = tuple(a for a in LEXICON["animal"] if a not in ("dinosaur", "dragon", "unicorn"))
_OUTSIDE = (
    "park",
    "forest",
    "garden",
    "beach",
    "hill",
    "pond",
    "field",
    "playground",
    "river",
    "lake",
    "yard",
)
_TOWN = ("shop", "store", "market", "library", "bakery", "school", "zoo", "farm", "hospital")
_FOOD = tuple(f for f in LEXICON["food"] if f not in ("breakfast", "lunch", "dinner", "snack", "seed", "nut"))
_SNACKS = tuple(f for f in _FOOD if f not in UNCOUNTABLE and f != "icecream")
_MEALS = ("breakfast", "lunch", "dinner", "a snack")
_PARENTS = (
    ("Mom", True),
    ("Dad", False),
    ("Grandma", True),
    ("Grandpa", False),
    ("Mommy", True),
    ("Daddy", False),
)
_WEATHER_ADJ = ("sunny", "rainy", "windy", "snowy", "cloudy", "cold", "hot", "warm", "stormy")
_FEELINGS = LEXICON["feeling"]
_GOOD_FEELINGS = ("happy", "glad", "excited", "proud", "cheerful", "calm", "thankful")
_BAD_FEELINGS = (
    "sad",
    "upset",
    "scared",
    "afraid",
    "angry",
    "worried",
    "lonely",
    "grumpy",
    "nervous",
    "bored",
)

POOLS: dict[str, tuple[str, ...]] = {
    "animal": _WILD,
    "pet": _PETS,
    "object": _THINGS,
    "toy": _TOYS,
    "food": _FOOD,
    "colour": LEXICON["colour"],
    "place": _OUTSIDE + _TOWN,
    "outside": _OUTSIDE,
    "town": _TOWN,
    "feeling": _FEELINGS,
    "good": _GOOD_FEELINGS,
    "bad": _BAD_FEELINGS,
    "family": tuple(w for w in LEXICON["family"] if w not in ("family", "parents")),
    "body": LEXICON["body"],
    "intrans": INTRANSITIVE_VERBS,
    "placeall": LEXICON["place"],
    "animalall": LEXICON["animal"],
    "dream": ("happy", "sweet", "funny", "strange", "wonderful", "long"),
    "weather": ("rain", "snow", "wind", "sun", "fog", "storm"),
    "weatheradj": _WEATHER_ADJ,
    "vehicle": LEXICON["vehicle"],
    "time": TIME_OPENERS,
    "home": THINGS_AT_HOME,
    "clothes": CLOTHES,
    "nature": NATURE,
    "people": PEOPLE,
    "abstract": ABSTRACT,
    "misc": MISC_NOUNS,
    "comparative": COMPARATIVES,
    "superlative": SUPERLATIVES,
    "thing": THING_VERBS,
    "person": PERSON_VERBS,
    "adj": ADJECTIVES,
    "size": SIZE_ADJECTIVES,
    "look": LOOK_ADJECTIVES,
    "adv": ("quickly", "slowly", "happily", "quietly", "loudly", "carefully", "gently", "softly"),
    "prep": PLACE_PREPOSITIONS,
    "motion": MOTION_VERBS,
    "happyact": HAPPY_ACTS,
    "quiet": QUIET_ACTS,
    "toyverb": TOY_VERBS,
    "making": MAKING_VERBS,
    "sense": SENSE_VERBS,
    "verb": tuple(VERBS),
    "num": NUMBER_WORDS[1:],
    "ordinal": ("first", "second", "third", "last"),
    "meal": _MEALS,
    "time2": ("day", "morning", "afternoon", "evening", "night"),
}

# Lines of dialogue; `{~...}` slots are filled when spoken.
_SAYINGS = (
    "I want to {~toyverb} the {~toy}.",
    "Can I have {~food|np}, please?",
    "Do you want to {~motion} with me?",
    "Look at the {~animal}!",
    "I like your {~object}.",
    "Where are you going?",
    "What is that?",
    "I am so {~good}!",
    "I'm so {~bad}.",
    "Let's go to the {~outside}!",
    "Please help me.",
    "Thank you, {~family}!",
    "I love you.",
    "Be careful!",
    "Are you okay?",
    "It is too {~adj}.",
    "I can {~motion} very fast!",
    "We can {~making} it together.",
    "Yes, please!",
    "No, thank you.",
    "I am sorry.",
    "Wow, it's so {~look}!",
    "Good morning!",
    "Good night!",
    "Why is the sky {~colour}?",
    "How many {~animal|s} can you see?",
    "I see {~num} {~animal|s}!",
    "Don't be {~bad}.",
    "Who is there?",
    "My {~body} hurts.",
    "I'm hungry. Can we eat {~food|np}?",
    "That's not fair!",
    "It's my turn!",
    "I didn't mean to.",
    "I can't find my {~object}.",
    "What are you doing?",
    "Can you help me {~making} my {~toy}?",
    "Will you be my friend?",
    "You're the best!",
    "We did it!",
    "I have an idea!",
    "Let's play a game.",
    "Is it time for {~meal}?",
    "I don't want to go to bed.",
    "This is the best day ever!",
    "What a {~look} {~object}!",
    "Come with me to the {~place}.",
    "Shh, the {~animal} is sleeping.",
    "Can we keep it?",
    "I won't do it again.",
    "Can you see the {~colour} {~vehicle}?",
    "We should go home before it gets dark.",
    "May I play with your {~toy|s}?",
    "I think the {~animal} is {~bad}.",
    "You cannot {~motion} here.",
    "Where did you put my {~clothes}?",
    "It's {~weatheradj} today. Put on your {~clothes}.",
    "Their {~toy} is {~comparative} than ours.",
    "Is there any {~food} left?",
    "Let's {~making} a {~size} {~toy} for the {~animal}.",
    "I will {~thing} it for you.",
    "Why are you {~feeling}?",
    "I'm {~motion|ing} to the {~place}!",
    "Have you ever {~thing|pp} a {~animal}?",
    "My {~family} says I can stay up late tonight.",
    "Hurry up, we're late!",
    "Please don't {~thing} my {~object}.",
    "Look, the {~weather} has stopped!",
    "Wait for me!",
    "What a {~superlative} day!",
)


# ----------------------------------------------------------------------------- the builder


@dataclass(frozen=True)
class _Char:
    name: str
    girl: bool


_GENDERED = {
    "he": ("he", "she"),
    "him": ("him", "her"),
    "his": ("his", "her"),
    "girl": ("boy", "girl"),
    "brother": ("brother", "sister"),
    "son": ("son", "daughter"),
    "man": ("man", "woman"),
    "king": ("prince", "princess"),
}
_KEY = re.compile(r"\{([^{}]+)\}")
_NOT_AN = ("uni", "use", "one", "once", "euro", "uniform")


def _np(word: str) -> str:
    if word in UNCOUNTABLE:
        return "some " + word
    return ("an " if word[0] in "aeiou" and not word.startswith(_NOT_AN) else "a ") + word


@functools.cache
def _zipf_weights(n: int) -> tuple[float, ...]:
    return tuple(1 / (rank + 1) ** ZIPF_EXPONENT for rank in range(n))


class _Builder:
    """Appends template sentences to the story's text."""

    def __init__(self, rng: random.Random, cast: dict[str, _Char], slots: dict[str, str]) -> None:
        self.rng, self.cast, self.slots = rng, cast, slots
        self.parts: list[str] = []
        self.grammar = Grammar(rng)

    def say(self, *options: str) -> None:
        """Append one randomly chosen template sentence (a single option is used as is)."""
        fmt = options[0] if len(options) == 1 else self.rng.choice(options)
        self.parts.append(_KEY.sub(lambda m: self._slot(m.group(1)), fmt))

    def free(self, who: str = "A", other: str = "B", n: int = 1) -> None:
        """Append ``n`` sentences from the grammar about ``who`` and ``other``, capitalised."""
        for _ in range(n):
            text = _KEY.sub(lambda m: self._slot(m.group(1)), self.grammar.sentence(who, other))
            start = 1 if text.startswith('"') else 0
            self.parts.append(text[:start] + text[start].upper() + text[start + 1 :])

    def maybe(self, p: float, *options: str) -> None:
        """With probability ``p``, ``say`` one of ``options``."""
        if self.chance(p):
            self.say(*options)

    def chance(self, p: float) -> bool:
        """True with probability ``p``."""
        return self.rng.random() < p

    def pick(self, pool: str) -> str:
        """A random word of a pool, common words (listed first) more often, as in real text (Zipf's law)."""
        words = POOLS[pool]
        return self.rng.choices(words, weights=_zipf_weights(len(words)))[0]

    def para(self) -> None:
        """Start a new paragraph."""
        self.parts.append("\n\n")

    def _slot(self, key: str) -> str:
        cap = key.startswith("^")
        key = key.lstrip("^")
        if key == "say":
            return _KEY.sub(lambda m: self._slot(m.group(1)), self.rng.choice(_SAYINGS))
        if key.startswith(("~", "=")) or "|" in key:
            # {~pool|form}: a word of a pool; {=verb|form}: that verb; {slot|form}: the story's slot
            pool, _, form = key.lstrip("~=").partition("|")
            if key[0] == "~":
                word = self.pick(pool)
            elif key[0] == "=":
                word = pool
            else:
                word = self.slots[pool.lower()]
                cap = cap or pool[0].isupper()
            if form == "s":
                word = word if word in UNCOUNTABLE else plural(word)
            elif form == "np":
                word = _np(word)
            elif form:
                word = VERBS[word][form]
        elif "." in key:
            who, attr = key.split(".")
            cap = cap or attr[0].isupper()
            word = _GENDERED[attr.lower()][self.cast[who].girl]
        elif key in self.cast:
            word = self.cast[key].name
        else:
            cap = cap or key[0].isupper()
            word = self.slots[key.lower()]
        return word[0].upper() + word[1:] if cap else word

    def finish(self, shape: str) -> LabeledStory:
        text = ""
        for part in self.parts:
            if part == "\n\n":
                text = text.rstrip() + "\n\n"
            else:
                text += ("" if not text or text.endswith("\n") else " ") + part
        text = re.sub(r"\b([Aa]) (?=[aeiouAEIOU])(?!(?:" + "|".join(_NOT_AN) + "))", r"\1n ", text.strip())
        if self.chance(POSSESSIVE_PARENT_SHARE):
            text = self._parent_as_possessive(text)
        return LabeledStory(text, label_spans(text), shape)

    def _parent_as_possessive(self, text: str) -> str:
        """Narration calls the parent "her mom" / "Lily's mom" / "my dad" instead of "Mom"; dialogue keeps "Mom".

        Real stories mostly do this; only stories that name the hero (or speak in the first person) change.
        """
        parent, hero = self.cast["P"], self.cast["A"]
        narration = re.sub(r'"[^"]*"', " ", text)
        first_person = len(re.findall(r"\b(?:I|my|My)\b", narration)) >= 2
        if not first_person and not re.search(rf"\b{hero.name}\b", narration):
            return text
        noun = _PARENT_NOUNS[parent.name]
        if noun in ("mom", "dad") and self.chance(0.25):
            noun = "mother" if noun == "mom" else "father"
        owner = "my" if first_person else _GENDERED["his"][hero.girl]
        named_once = not first_person and self.chance(0.4)
        pieces, done = [], 0
        for match in re.finditer(rf"\b{parent.name}\b", text):
            before = text[: match.start()]
            if before.count('"') % 2:  # inside a quote: dialogue keeps "Mom"
                continue
            who = owner
            if named_once and hero.name not in " ".join(re.split(r"[.!?\n]", before)[-2:]):
                who, named_once = f"{hero.name}'s", False  # not "Isla and Isla's mom"
            after_quote = re.search(r'([.!?])"\s+$', before)
            at_start = re.search(r"(?:^|[.!?]\s+|\n\s*)$", before) is not None or (
                after_quote is not None
                and not (after_quote.group(1) in "!?" and _SPEECH_VERB.match(text, match.end()))
            )  # '"We need milk." Her mom ...' but '"Hi!" her mom said.'
            pieces += [
                text[done : match.start()],
                (who[0].upper() + who[1:] if at_start else who) + " " + noun,
            ]
            done = match.end()
        return "".join(pieces) + text[done:]


# ----------------------------------------------------------------------------- shared pieces


def _open(b: _Builder, *follow: str) -> None:
    b.say(
        "Once upon a time, there was a little {A.girl} named {A}.",
        "Once upon a time, there lived a {~adj} little {A.girl} named {A}.",
        "Once upon a time, in a small town, there was a {A.girl} named {A}.",
        "There was once a little {A.girl} called {A}.",
        "There was a little {A.girl} named {A}.",
        "Long ago, there was a kind {A.girl} named {A}.",
        "{A} was a little {A.girl} who lived in a small house near the {~outside}.",
        "{A} was {age} years old.",
        "This is {A}. {A.He} is {age} years old.",
        "In a little house by the {~outside}, there lived a {A.girl} named {A}.",
        "Once there was a {A.girl} named {A} who loved {~food|s}.",
    )
    b.say(*follow)
    _filler(b, "A", b.rng.randint(0, 2))


def _end(b: _Builder, *morals: str) -> None:
    _filler(b, "A", b.rng.randint(0, 2))
    b.say(*morals)
    b.maybe(
        0.45,
        "From that day on, {A} was never {~bad} again.",
        "{A} learned an important lesson that day.",
        "It was a {~adj} day, and {A} would always remember it.",
        "And they all lived happily ever after.",
        "{A} smiled and went to sleep.",
        '{A} hugged {P} and said, "I love you."',
        "That night, {A} had a {~dream} dream.",
    )
    b.maybe(0.25, "The end.")


_GENERIC = (
    "{X} {~motion|past} {~adv} to the {~outside}.",
    "{X.He} saw {~size} {~animal|s} {~prep} the {~nature}.",
    "{X} found a {~look} {~object} {~prep} the {~home}.",
    "{X.He} ate {~food|np} and drank some {drink}.",
    "{X.He} wanted to {~toyverb} the {~toy}, but it was too {~adj}.",
    "{X} put on {X.his} {~clothes} because it was {~weatheradj} outside.",
    "{X.He} did not want to {~quiet}. {X.He} wanted to {~motion}!",
    "{X} looked at the {~nature} and {~happyact|past}.",
    "{X.He} saw a {~animal}, a {~animal} and a {~animal}.",
    "{X} had {~num} {~toy|s} and {~num} {~object|s}.",
    "{X.His} {~family} made {~food|np} for {X.him}.",
    "{X} liked {~food|s} more than anything.",
    "The {~animal} {~happyact|past} and {~motion|past} away.",
    "It was a {~weatheradj} {~time2}, so {X} stayed {inout}.",
    "{X.He} {~sense|past} a {~adj} {~animal} near the {~outside}.",
    "{X} was {~feeling} because {X.he} could not find {X.his} {~object}.",
    "When {X} got to the {~place}, {X.he} saw {~num} {~animal|s}.",
    "{X.He} {~making|past} a {~size} {~toy} with {X.his} {~family}.",
    "{X} held the {~object} with both hands.",
    "{X} {~motion|past} around the {~home} and hid behind the {~home}.",
    "{X.He} was {~feeling}, but {X.he} did not cry.",
    "{X} was {~motion|ing} to the {~place} when {X.he} {~sense|past} a {~people}.",
    "{X.He} {~thing|past} the {~object} and {~thing|past} the {~object}.",
    "{X} was {~thing|ing} {X.his} {~object|s} when {X.his} {~family} came in.",
    "{X} had never {~thing|pp} a {~object} so {~adj} before.",
    "{X} loves to {~motion} and {~happyact} with {X.his} friends.",
    "Every {~time2}, {X} {~motion|s} to the {~place} and {~thing|s} the {~object}.",
    "{X.He} met a {~adj} {~people} at the {~place}.",
    "The {~people} {~person|past} {X} and gave {X.him} a {~object}.",
    "The {~people} was {~adj}, and {X.he} had a {~adj} {~abstract}.",
    "{X} told {X.his} {~family} about the {~abstract}.",
    "{X.His} {~body} felt {~adj}, so {X.he} sat on the {~misc}.",
    "{X} saw {~size} {~misc|s} on the {~misc}.",
    "The {~animal} was {~comparative} than the {~animal}.",
    "{X} wanted to be the {~superlative} {~people} in the {~place}.",
    "{X} {~motion|past} {~comparative} and {~comparative}.",
    "There were {~num} {~animal|s} {~prep} the {~nature}, and one of them was {~colour}.",
    "{X} could not {~thing} the {~object} without help.",
    "Before {~meal}, {X} {~thing|past} the {~object} and {~motion|past} across the {~misc}.",
    "After {~meal}, {X} and {X.his} {~family} went to the {~place} by {~vehicle}.",
    "{X} got into the {~vehicle} and looked out the window.",
    "A {~colour} {~vehicle} went by, and {X} waved.",
    "The {~weather} came, and {X} {~motion|past} home.",
    "The sky was {~colour} and the {~weather} was {~adj}.",
    "{X} {~sense|past} the {~weather} through the window.",
    "{X.He} was so {~feeling} that {X.he} {~happyact|past}.",
    "{X} gave {X.his} {~family} a big hug.",
    "{X.He} shared {X.his} {~food|s} with {X.his} friends.",
    "Nobody knew where the {~object} was, but {X} knew.",
    "{X} thought about the {~abstract} all {~time2}.",
    "{X.He} picked up a {~nature} and put it in {X.his} pocket.",
    "Something {~adj} was {~prep} the {~home}.",
    "{X} did not know what to do.",
    "{X} asked {X.his} {~family} for help, and they {~thing|past} the {~object} together.",
    "{X} and {X.his} friends played with their {~toy|s} until it was dark.",
    "Our {~family} says we should always be kind.",
    "{X} tried to {~thing} the {~object} again and again.",
    "{X} heard a {~adj} {~abstract} from the {~outside}.",
    "Then {X} saw another {~animal} {~motion|ing} across the {~outside}.",
    "The {~animal} jumped onto the {~home} and knocked over the {~object}.",
    "{X} may be small, but {X.he} is very {~adj}.",
    "{X} was {~feeling}. {X.He} did not want to {~thing} any {~object|s}.",
    "{X.His} {~body} hurt, so {X.he} went to the {~people}.",
    "{X} {~intrans|past} all {~time2}.",
    "{X} was {~intrans|ing} when {X.his} {~family} called {X.him}.",
    "{X} likes to {~intrans}, and {X.he} {~intrans|s} every day.",
    "{X} had never {~intrans|pp} like that before.",
    "{X} stopped {~intrans|ing} and looked around.",
    "{X.He} {~intrans|past} and {~intrans|past} until {X.he} felt {~feeling}.",
    "{X} picked up some {~nature|s} and {~misc|s}.",
    "There were many {~home|s} and {~home|s} in the {~placeall}.",
    "{X} saw the {~people|s} and the {~people|s} {~intrans|ing} by the {~placeall}.",
    "The {~animalall|s} were {~intrans|ing} in the {~placeall}.",
    "{X} waved goodbye to the {~animalall}.",
    "{X} stood in front of the {~home} between {X.his} {~family} and {X.his} friend.",
    "{X} almost {~intrans|past}, but then {X.he} felt {~comparative}.",
    '"How do you feel?" asked {X.his} {~family}. "I feel {~feeling}," said {X}.',
    "{X} moved the {~home} off the {~misc}.",
    "{X} wiped {X.his} {~body} and went to the {~placeall}.",
    "The {~animalall} flapped its {~body|s} and flew over the {~placeall}.",
    "{X.He} was a {~adj} {~people}, and {X.he} lived by the {~placeall}.",
    '"{say}" said {X}.',
    '{X} said, "{say}"',
    '"{say}" {X} {asked_or_said}.',
)


def _filler(b: _Builder, who: str = "A", n: int = 1) -> None:
    """``n`` generic sentences about ``who``: they spread the whole vocabulary over every shape."""
    other = "B" if who != "B" else "A"
    for _ in range(n):
        if b.chance(0.7):
            b.free(who, other)
        else:
            b.say(b.rng.choice(_GENERIC).replace("{X", "{" + who))


def _dialogue(b: _Builder, first: str, second: str, turns: int) -> None:
    """A few lines of dialogue between two characters, with varied speaker tags."""
    speakers = [first, second]
    for i in range(turns):
        b.say(b.grammar.dialogue_line(speakers[i % 2], speakers[(i + 1) % 2]))


# ----------------------------------------------------------------------------- story shapes


def _lost_object(b: _Builder) -> None:
    _open(
        b,
        "{A.He} had a {col} {obj} that {A.he} loved very much.",
        "{A.His} favorite thing was a {col} {obj}.",
        "{A.He} loved {A.his} {col} {obj} more than anything.",
    )
    b.maybe(0.6, "{A.He} took it everywhere {A.he} went.", "Every day, {A.he} took it to the {place}.")
    b.para()
    b.say(
        "{Time}, {A} went to the {place} with {A.his} {obj}.",
        "{Time}, {A} took the {obj} to the {place}.",
        "{Time}, {A} and {P} went to the {place}.",
    )
    _filler(b, "A", b.rng.randint(1, 2))
    b.say(
        "But when {A.he} looked down, the {obj} was gone!",
        "But then {A.he} saw that {A.his} {obj} was not there!",
    )
    b.say("{A.He} felt very {bad}.", "{A} was so {bad} that {A.he} began to cry.")
    b.say('"Where is my {obj}?" {A} asked.', '"Oh no! I lost my {col} {obj}!" cried {A}.')
    b.para()
    if b.chance(0.5):
        b.say("Just then, {A.his} friend {B} came by.", "Then {A.his} friend {B} came to help.")
        b.say('"Don\'t be {bad}," said {B}. "I will help you look."', '"I can help you find it," said {B}.')
        b.say("They looked under the {~home} and behind the {~nature}.", "They looked high and low.")
        b.say("At last, {B} saw something {col} in the grass.", "Then {B} saw something {col} under a bush.")
        b.say('"Look, {A}! Here it is!" said {B}.', '"I found it!" shouted {B}.')
    else:
        b.say("Then a little {pet} came running to {A.him}.", "Just then, a {pet} came out of the bushes.")
        b.say("The {pet} had the {col} {obj} in its mouth!", "The {pet} was sitting on the {obj}!")
    b.say("{A.He} was so {good}.", "{A} hugged {A.his} {obj} and smiled.")
    _end(
        b,
        "From that day on, {A} always kept {A.his} {obj} close.",
        "{A} learned to take good care of {A.his} things.",
        "{A} never lost {A.his} {obj} again.",
    )


def _new_friend(b: _Builder) -> None:
    _open(
        b, "{A.He} had just moved to a new town.", "{A.He} did not have many friends.", "{A.He} was very shy."
    )
    b.say("Every day, {A.he} played alone at the {place}.", "{A.He} often sat alone on a bench.")
    b.say("{A.He} felt lonely.", "Sometimes {A.he} felt lonely and {bad}.")
    b.para()
    b.say("{Time}, {A.he} saw a {B.girl} with a {col} {obj}.", "Then {A.he} met a {B.girl} named {B}.")
    _dialogue(b, "B", "A", b.rng.randint(2, 4))
    b.say("They played with the {obj} all afternoon.", "They took turns and laughed a lot.")
    _filler(b, "B", 1)
    b.para()
    b.say("{A} was not lonely anymore.", "{A} felt {good} inside.")
    _end(
        b,
        "From that day on, {A} and {B} were best friends.",
        "It is nice to make a new friend.",
        "{A} learned that a small hello can make a big friend.",
    )


def _trip(b: _Builder) -> None:
    _open(
        b,
        "{A.He} loved animals.",
        "{A.He} wanted to go to the zoo more than anything.",
        "{A.He} liked to see new things.",
    )
    b.para()
    b.say(
        "Because it was a sunny day, {P} said they could go to the zoo.",
        "{Time}, the family got in the {vehicle} and went to the farm.",
        "It was a warm day, so {P} took {A} to the zoo.",
    )
    b.say("{A} was so excited!", "{A.He} felt very excited.")
    b.say("First, {A.he} saw {n} {pets}.", "There were {n} {pets} and a big {pet}.")
    b.say('"Look, there are {n} {pets}!" said {A}.', '"I like the {pet} best," said {A}.')
    _filler(b, "A", b.rng.randint(1, 3))
    b.maybe(0.6, "Then they sat down and ate {~food|np}.", "{P} gave {A} a cup of {drink}.")
    b.para()
    b.say(
        "When the sun went down, {A} was very tired, so they went home.",
        "At the end of the day, {A} felt tired but {good}.",
    )
    _end(
        b,
        "It was the best day ever.",
        "{A} could not wait to go back.",
        "That night, {A} dreamed of the {pet}.",
    )


def _sharing(b: _Builder) -> None:
    b.say(
        "{A} and {B} were best friends.",
        "{A} had a little {B.brother} named {B}.",
        "{A} and {B} lived next door to each other.",
    )
    b.say("They liked to play at the {place}.", "They played together every day.")
    b.say("{Time}, they found a {col} {obj}.", "{P} gave them a new {col} {obj}.")
    b.say('"It is mine!" said {A}.', '"I saw it first!" said {A}.')
    b.say('"No, it\'s mine!" said {B}.', '"No, I want it!" cried {B}.')
    b.say("They both pulled the {obj}.", "They pulled and pulled until the {obj} broke.")
    b.say("{A} was angry, and {B} was angry too.", "Both of them were very upset.")
    b.para()
    b.say("Then {P} came over.", "Just then, {P} came in.")
    b.say('"Why not share?" asked {P}. "You can take turns."', '"You can both play with it," said {P}.')
    b.say("{A} thought about it.", "{A} looked at {B}.")
    b.say("{A} gave the {obj} to {B} first.", '"You can go first," said {A}.')
    _filler(b, "B", 1)
    b.say("Because they shared, they both had fun.", "They took turns, so nobody was sad.")
    _end(
        b,
        "Sharing is caring.",
        "{A} and {B} learned that sharing makes everyone happy.",
        "It is more fun to play together.",
    )


def _counting(b: _Builder) -> None:
    _open(b, "{A.He} loved to count things.", "{A.His} favorite game was counting.")
    b.say("{A.He} counted {A.his} toys every morning.", "{A.He} counted the {pets} at the {place}.")
    b.para()
    b.say(
        "{Time}, {A} and {A.his} friend {B} went to the {place}.", "{Time}, {A} went to the {place} with {B}."
    )
    b.say('"Let\'s find {target} {col} {objs}!" said {B}.', '"Can we find {target} {objs}?" asked {A}.')
    total, turn, target = 0, "A", NUMBER_WORDS.index(b.slots["target"]) + 1
    while total < target:
        k = min(b.rng.randint(1, 3), target - total)
        total += k
        b.say(f"{{{turn}}} found {NUMBER_WORDS[k - 1]}" + (" more." if total > k else "."))
        b.maybe(0.5, f"Now they had {NUMBER_WORDS[total - 1]}.")
        turn = "B" if turn == "A" else "A"
    b.say(
        '"'
        + ", ".join(w.capitalize() if i == 0 else w for i, w in enumerate(NUMBER_WORDS[:total]))
        + '!" they counted together.'
    )
    b.para()
    b.say('"We did it!" said {B}.', '"We found {target}!" said {A}.')
    b.say("They were so proud.", "{A} felt proud, and {B} was {good} too.")
    _end(
        b, "Counting is more fun with a friend.", "{A} and {B} played the counting game every day after that."
    )


def _scary_noise(b: _Builder) -> None:
    _open(b, "{A.He} lived near a big forest.", "{A.His} house was next to the {place}.")
    b.para()
    b.say("At night, {A} heard a strange noise outside.", "Late at night, {A.he} heard a loud bump.")
    b.say("The noise came three times. Bump! Bump! Bump!", "Scratch, scratch, went the noise.")
    b.say('"What was that?" {A} asked.', '"Who is there?" whispered {A}.')
    b.say("{A} was very scared.", "{A.He} felt scared and hid under {A.his} blanket.")
    b.say("{A.He} wanted to hide, but {A.he} wanted to be brave too.", "{A.His} heart went thump, thump.")
    b.say(
        "So {A.he} took {A.his} little lamp and went to look.",
        "So {A.he} called {P}, and they went outside to look.",
    )
    b.para()
    b.say("{A.He} looked behind the big tree.", "{A.He} looked under the bush.")
    b.say("It was just a little {pet}!", "There was a small {col} {pet}!")
    b.say("The {pet} was scared too.", "The {pet} was lost and hungry.")
    b.say('"Don\'t be afraid," said {A}. "I won\'t hurt you."', '"Hello, little {pet}," said {A}.')
    b.say("{A} gave the {pet} some water.", "{A} gave the {pet} {~food|np}.")
    _end(
        b,
        "{A} laughed. There was nothing to be scared of.",
        "{A} learned that things are not always as scary as they seem.",
    )


def _rescue(b: _Builder) -> None:
    _open(b, "{A.He} liked to play at the {place}.", "{A.He} was kind to every animal.")
    b.para()
    b.say("{Time}, {A.he} heard a small cry.", "{Time}, {A.he} heard a little noise.")
    b.say(
        "A little {pet} was stuck up in a tree.",
        "A little {pet} was stuck in the mud.",
        "A baby {pet} had fallen into a hole.",
    )
    b.say("The {pet} was scared and could not get out.", "The {pet} looked sad and cold.")
    b.say('"I will help you, little {pet}," said {A}.', '"Don\'t worry, I am here," said {A}.')
    if b.chance(0.5):
        b.say("{A} ran to get {A.his} friend {B}.", "{A} called {A.his} friend {B}.")
        b.say("{B} was tall, so {B.he} could reach the {pet}.", "{B} brought a long rope.")
        b.say("Together they got the {pet} out.", "They worked together, so the {pet} was safe.")
    else:
        b.say("{A} was small, so {A.he} stood on a box.", "{A} reached and reached.")
        b.say("At last, {A.he} got the {pet} out.", "After two tries, {A.he} got the {pet} out.")
    b.maybe(0.6, '"Thank you," said the {pet}.', "The {pet} looked at {A} with big eyes.")
    _filler(b, "A", 1)
    _end(b, "It is good to help others.", "Helping others makes you happy too.")


def _rainy_day(b: _Builder) -> None:
    _open(
        b, "{A.He} wanted to play at the {place} with {A.his} {col} {obj}.", "{A.He} loved to play outside."
    )
    b.say("But when {A.he} looked outside, it was raining.", "But dark clouds came, and it began to rain.")
    b.say("Because it was raining, {A} could not go out.", "It was raining hard, so {A} had to stay inside.")
    b.say("{A.He} felt {bad}.", "{A} was sad and bored.")
    b.say('"What can I do now?" asked {A}.', '"I want to go out!" said {A}.')
    b.para()
    if b.chance(0.5):
        b.say("Then {A.he} had an idea.", "Then {P} gave {A.him} some paper.")
        b.say(
            "{A.He} took out {A.his} crayons and drew {n} {col2} {pets}.",
            "{A.He} drew a {col2} {~animal} and a big sun.",
        )
    else:
        b.say("Then {A.his} {B.brother} {B} came to play.", "Then {A.his} friend {B} came over.")
        b.say("They made a fort with a big blanket.", "They built a tall tower with {n} {col2} blocks.")
    _filler(b, "A", 1)
    b.say(
        "Soon the rain stopped and the sun came out.",
        "After a while, the rain stopped and there was a rainbow.",
    )
    b.say("{A} ran outside to jump in the puddles.", "{A} took {A.his} umbrella and went out to play.")
    _end(b, "Even a rainy day can be fun.", "{A} learned that there is always something fun to do.")


def _birthday(b: _Builder) -> None:
    _open(b, "Today was {A.his} birthday!", "{A.His} birthday was tomorrow.")
    b.say("{A.He} was turning {age}.", "{A.He} was very excited.")
    b.say(
        "{P} made a big {col} cake with {age} candles.", "{P} baked a chocolate cake and put candles on it."
    )
    b.say("{A.His} friends came to the party.", "{B} and the other kids came to {A.his} house.")
    b.say("They played games and sang songs.", "They danced and played with balloons.")
    b.say('"Happy birthday, {A}!" everyone said.', '"Make a wish!" said {P}.')
    b.say("{A} closed {A.his} eyes and blew out the candles.", "{A} made a wish and blew hard.")
    b.say("{B} gave {A} a present. It was a {col2} {obj}!", "Grandma gave {A} a box. Inside was a new {obj}.")
    b.say('"Thank you so much!" said {A}.', '"I love it!" {A} said.')
    _filler(b, "A", b.rng.randint(0, 2))
    _end(b, "It was the best birthday ever.", "{A} went to bed with a big smile.")


def _baking(b: _Builder) -> None:
    _open(b, "{A.He} loved to help in the kitchen.", "{A.He} liked to cook with {P}.")
    b.say('{Time}, {P} said, "Let\'s bake something!"', "{Time}, {A} and {P} decided to make {dish}.")
    b.say("They put flour, sugar and eggs in a big bowl.", "First, they got milk, butter and two eggs.")
    b.say("{A} mixed and stirred.", "{A} cracked the eggs, and {P} poured the milk.")
    b.maybe(0.5, "Oops! {A} spilled some flour on the floor.", "{A} licked the spoon. Yummy!")
    b.say("They put the {dish} in the hot oven.", "{P} put it in the oven, and they waited.")
    b.say("Soon the kitchen smelled sweet.", "The whole house smelled good.")
    b.say("When it was ready, they shared it with {B}.", "They ate it with {~food|np} on top.")
    _dialogue(b, "A", "P", 2)
    _end(b, "Cooking together is fun.", "{A} wanted to bake again the next day.")


def _school_day(b: _Builder) -> None:
    _open(b, "Today was {A.his} first day at school.", "{A.He} was going to a new school.")
    b.say("{A} felt nervous.", "{A.His} tummy felt funny.")
    b.say('"What if nobody likes me?" {A} asked {P}.', '"I don\'t want to go," said {A}.')
    b.say('"Just be yourself," said {P}.', '"You will make friends," {P} said with a hug.')
    b.para()
    b.say("The teacher was kind and had a big smile.", "In the classroom, there were many books and toys.")
    b.say("A {B.girl} named {B} sat next to {A}.", "{B} showed {A} a {col} {obj}.")
    _dialogue(b, "B", "A", 2)
    b.say("They painted pictures and read a story.", "They learned to count to ten and sang a song.")
    _filler(b, "B", 1)
    b.say("When {P} came, {A} ran to {P.him}.", "After school, {A} told {P} everything.")
    _end(b, '"School is fun!" said {A}.', "{A} could not wait to go back tomorrow.")


def _hurt_knee(b: _Builder) -> None:
    _open(b, "{A.He} liked to run very fast.", "{A.He} loved to ride {A.his} bike.")
    b.say("{Time}, {A.he} was running at the {place}.", "{Time}, {A.he} was riding down the hill.")
    b.say("Suddenly, {A.he} tripped and fell.", "{A.He} hit a rock and fell down.")
    b.say("{A.His} {hurt} hurt, and it was bleeding a little.", "{A.He} hurt {A.his} {hurt}.")
    b.say("{A} started to cry.", '"Ouch!" cried {A}.')
    b.say("{P} ran to {A.him} and picked {A.him} up.", "{B} helped {A.him} get up.")
    b.say("At home, {P} washed it and put on a bandage.", "They went to see the doctor.")
    b.maybe(
        0.6, 'The doctor said, "You will be fine. Be careful next time."', '"You were very brave," said {P}.'
    )
    _filler(b, "A", 1)
    b.say("Soon {A} felt better.", "After a few days, {A.his} {hurt} was better.")
    _end(b, "{A} learned to be more careful.", "Now {A} always looks where {A.he} goes.")


def _bedtime(b: _Builder) -> None:
    _open(b, "{A.He} did not like to go to bed.", "Every night, {A.he} wanted to stay up late.")
    b.say('"It\'s time for bed," said {P}.', '"Bedtime, {A}," {P} called.')
    b.say('"But I\'m not tired!" said {A}.', '"Five more minutes, please!" said {A}.')
    b.say(
        "{A.He} brushed {A.his} teeth and put on {A.his} pajamas.",
        "{A} took a warm bath and put on {A.his} pajamas.",
    )
    b.say("{P} read {A.him} a story about a {~animal} and a {~animal}.", "{P} sang a soft song.")
    b.say(
        "{A} looked out the window at the moon and the stars.",
        "{A.His} teddy bear was next to {A.him} on the pillow.",
    )
    _filler(b, "A", 1)
    b.say("{A.His} eyes felt heavy.", "{A} yawned a big yawn.")
    _end(b, "Soon {A} was fast asleep.", '"Good night," whispered {P}, and {A} fell asleep.')


def _garden(b: _Builder) -> None:
    _open(b, "{A.He} wanted to grow {~food|s}.", "{A.He} liked to help {P} in the garden.")
    b.say("{Time}, they dug small holes and put seeds in them.", "They planted seeds in the dirt.")
    b.say("{A} watered the seeds every day.", "Every morning, {A} gave them water.")
    b.say("At first, nothing happened.", "For many days, {A.he} saw nothing.")
    b.say('"When will they grow?" asked {A}.', '"Be patient," said {P}.')
    b.say("Then one day, {A.he} saw tiny green plants!", "After a week, little green leaves came up.")
    _filler(b, "A", b.rng.randint(1, 2))
    b.say(
        "By summer, there were {~food|s} and pretty {col} flowers.", "Soon the garden was full of {~food|s}."
    )
    _end(b, "Good things take time.", "{A} was proud of {A.his} garden.")


def _snow_day(b: _Builder) -> None:
    _open(b, "{A.He} loved the winter.", "{A.He} wished for snow every day.")
    b.say("One morning, {A.he} looked out the window. Everything was white!", "{Time}, it snowed all night.")
    b.say(
        "{A} put on {A.his} coat, {A.his} hat and {A.his} warm gloves.",
        "{A} put on {A.his} boots and a {col} scarf.",
    )
    b.say("{A} and {B} made a big snowman.", "{A} and {B} threw snowballs at each other.")
    b.say("They gave the snowman a carrot for a nose.", "They made snow angels in the yard.")
    b.maybe(0.6, '"He needs a hat," said {B}.', '"My hands are cold!" said {A}.')
    _filler(b, "B", 1)
    b.say("Then they went inside and drank hot chocolate.", "{P} made them warm soup.")
    _end(b, "Snow days are the best days.", "{A} hoped it would snow again tomorrow.")


def _beach(b: _Builder) -> None:
    _open(b, "{A.He} loved the sea.", "{A.He} had never seen the ocean.")
    b.say("{Time}, the family went to the beach.", "{Time}, {P} drove them to the beach in the {vehicle}.")
    b.say("The water was blue and the sand was warm.", "The sun was hot, and the waves were big.")
    b.say("{A} and {B} built a sand castle.", "{A} looked for shells by the water.")
    b.say("Then a big wave came and washed it away!", "{A.He} found a pink shell and a little crab.")
    b.say('"Oh no!" said {B}.', '"Look what I found!" said {A}.')
    _filler(b, "A", b.rng.randint(1, 2))
    b.say("They swam and splashed in the water.", "They ate ice cream under a big umbrella.")
    _end(b, "It was a perfect day at the beach.", "{A} took a shell home to remember the day.")


def _pet_care(b: _Builder) -> None:
    _open(b, "{A.He} had a {pet} named {petname}.", "{A.He} wanted a pet more than anything.")
    b.maybe(0.5, "On {A.his} birthday, {P} gave {A.him} a little {pet}. {A.He} named it {petname}.")
    b.say(
        "Every day, {A} fed {petname} and gave it fresh water.", "{A} took care of {petname} every morning."
    )
    b.say("{Time}, {petname} did not want to eat.", "{Time}, {petname} was not playing.")
    b.say("{A} was worried.", "{A} felt very worried.")
    b.say('"What is wrong with {petname}?" asked {A}.', '"Is {petname} sick?" {A} asked {P}.')
    b.say("They took {petname} to the animal doctor.", '{P} said, "Maybe it needs a walk."')
    _filler(b, "A", 1)
    b.say("Soon {petname} was better and played again.", "The next day, {petname} ate all its food.")
    _end(b, "A pet needs love and care.", "{A} and {petname} were best friends forever.")


def _honesty(b: _Builder) -> None:
    _open(b, "{A.He} liked to play ball in the house.", "{A.He} was playing in the living room.")
    b.say("{Time}, {A.he} threw {A.his} ball too hard.", "{A} was running and bumped the table.")
    b.say("Crash! {P}'s favorite vase fell and broke.", "Crash! A cup fell and broke into many pieces.")
    b.say("{A} was scared.", "{A} felt bad and {bad}.")
    b.say("{A.He} wanted to hide the pieces.", "{A.He} thought about saying the {~animal} did it.")
    b.say("But then {A.he} went to {P} and told the truth.", "But {A} knew that lying was wrong.")
    b.say('"I\'m sorry. I broke it," said {A}.', '"I did it. I am sorry," {A} said.')
    b.say(
        '"Thank you for telling me the truth," said {P}.',
        '{P} hugged {A.him}. "It\'s okay. I am proud of you."',
    )
    _filler(b, "A", 1)
    _end(b, "It is always best to tell the truth.", "{A} learned that being honest is important.")


def _race(b: _Builder) -> None:
    _open(b, "{A.He} was the fastest runner in {A.his} class.", "{A.He} wanted to win the big race.")
    b.say("{Time}, there was a race at the {place}.", "{Time}, all the kids lined up for the race.")
    b.say('"Ready, set, go!" shouted the teacher.', '"One, two, three, go!" said {P}.')
    b.say("{A} ran as fast as {A.he} could.", "Everyone ran very fast.")
    b.say("Then {A.he} saw {B} fall down.", "Near the end, {B} tripped and hurt {B.his} knee.")
    b.say("{A} stopped and helped {B} get up.", "{A} did not run on. {A.He} went back to help.")
    b.say("They walked to the end together.", "They crossed the line last, but together.")
    _filler(b, "B", 1)
    b.say("Everyone clapped for them.", '"You are a good friend," said {B}.')
    _end(b, "Being kind is better than winning.", "{A} did not win the race, but {A.he} made a new friend.")


def _wish(b: _Builder) -> None:
    _open(b, "{A.He} wished {A.he} could fly.", "{A.He} always dreamed of magic.")
    b.say(
        "{Time}, {A.he} found a {look} {col} stone in the grass.",
        "{Time}, a tiny fairy came to {A.his} window.",
    )
    b.say('"I can give you one wish," said a soft voice.', '"Make a wish," said the fairy.')
    b.say('"I wish I had a {~animal} of my own," said {A}.', '"I wish I could fly like a bird," said {A}.')
    b.say("Poof! The wish came true.", "There was a flash of light, and then it happened.")
    _filler(b, "A", b.rng.randint(1, 2))
    b.say(
        "But soon {A} missed {A.his} family.", "At the end of the day, {A} was tired and wanted to go home."
    )
    b.say("{A.He} made one more wish and went home to {P}.", "{A} hugged {P} tight.")
    _end(b, "Home is the best place of all.", "{A} learned that the best magic is love.")


def _visit_grandma(b: _Builder) -> None:
    _open(b, "{A.His} grandma lived far away.", "{A.He} loved visiting {A.his} grandparents.")
    b.say(
        "{Time}, they went to see Grandma by {vehicle}.",
        "{Time}, {A} and {P} got on the {vehicle} to visit Grandpa.",
    )
    b.say(
        "The ride was long, so {A} counted the cows outside.",
        "On the way, {A} looked out the window at the trees.",
    )
    b.say("Grandma was waiting at the door.", "Grandpa gave {A} a big hug.")
    b.say('"You have grown so big!" said Grandma.', '"I missed you!" said {A}.')
    b.say("Grandma made {~food|np} and {~food|np}.", "They ate soup and bread for dinner.")
    b.say("Grandpa told {A.him} stories about when he was a boy.", "Grandma showed {A} old pictures.")
    _filler(b, "A", 1)
    _end(b, "{A} loved {A.his} grandparents very much.", "{A} could not wait to visit again.")


def _shopping(b: _Builder) -> None:
    _open(b, "{A.He} liked to go to the store with {P}.", "{A.He} liked to help {P} buy food.")
    b.say("{Time}, they went to the market.", "{Time}, they needed bread, eggs and milk.")
    b.say("{A} pushed the cart.", "{A} held the list.")
    b.say(
        "They bought {~food|s}, {~food|s} and some cheese.", "{A} found the {~food|s} and put {n} in a bag."
    )
    b.say('"Can I have {~food|np}?" asked {A}.', '"Can we buy some candy?" asked {A}.')
    b.say('"Just one," said {P}.', '"Not today," said {P}. "We have fruit at home."')
    _filler(b, "A", 1)
    b.say("At home, {A} helped put the food away.", "They carried the bags home together.")
    _end(b, "{A} liked helping {P}.", "{P} said {A} was a great helper.")


def _diary(b: _Builder) -> None:
    """First person, present and past tense."""
    b.say(
        "My name is {A}. I am {age} years old.", "Hi! I am {A}. I live in a little house with my {~family}."
    )
    b.say("I have a {pet} named {petname}.", "I have a {col} {obj} and a little {pet}.")
    b.say("Every morning, I eat {~food|np} for breakfast.", "I like to {~motion} and {~motion}.")
    b.say("My favorite color is {col}.", "My best friend is {B}.")
    b.para()
    b.say("Yesterday, I went to the {place} with {B}.", "Today, {P} took me to the {place}.")
    b.say("We saw {n} {pets} and a big {~animal}.", "We played with my {obj} and ran in the grass.")
    b.say("Then it started to rain, so we went home.", "I was so happy that I sang a song.")
    b.say("At home, I drew a picture of the {~animal}.", "For dinner, we had {~food|np}.")
    b.say("Tomorrow, I will go to school.", "Now I am tired, and it is time for bed.")
    _end(b, "I love my family.", "Good night!")


def _routine(b: _Builder) -> None:
    """Present tense: a child's ordinary day."""
    b.say("{A} is a little {A.girl}.", "{A} is {age} years old.")
    b.say("Every morning, {A} wakes up and brushes {A.his} teeth.", "Each day, {A} gets up early.")
    b.say("{A.He} eats {~food|np} and drinks a glass of milk.", "{P} makes {A.him} breakfast.")
    b.say("Then {A.he} goes to school with {A.his} {~family}.", "Then {A.he} walks to the {place}.")
    b.say(
        "At school, {A.he} reads books and plays with {B}.", "{A.He} likes to {~motion} with {A.his} friends."
    )
    b.say("After school, {A.he} feeds {A.his} {pet}.", "In the afternoon, {A.he} plays with {A.his} {obj}.")
    b.say("In the evening, the family eats dinner together.", "At night, {P} reads {A.him} a story.")
    _end(b, "{A} likes every day.", "Then {A} goes to sleep and dreams about the {~animal}.")


def _fable(b: _Builder) -> None:
    """Animals as the characters."""
    b.say(
        "Once upon a time, there was a little {pet} who lived in the forest.",
        "In a big forest, there lived a {~adj} {pet}.",
        "A {pet} and a {pet2} lived near the pond.",
    )
    b.say(
        "The {pet} was very proud.",
        "The {pet} thought it was the best at everything.",
        "The {pet} was small but brave.",
    )
    b.say('"I am the fastest!" said the {pet}.', '"Nobody can beat me!" said the {pet}.')
    b.say('The {pet2} said, "Let\'s have a race."', "The {pet2} smiled and said nothing.")
    b.say("The {pet} ran fast, but then it stopped to sleep.", "The {pet} did not listen to the {pet2}.")
    b.say("The {pet2} went slowly, one step at a time.", "The {pet2} worked hard every day.")
    b.say("In the end, the {pet2} won.", "When winter came, the {pet2} had food, but the {pet} had none.")
    b.say("The {pet} was {bad}.", "The {pet} said sorry to the {pet2}.")
    b.say("The {pet2} shared its food with the {pet}.", "After that, they became good friends.")
    b.say("Slow and steady wins the race.", "It is good to work hard and be kind.", "Never be too proud.")
    b.maybe(0.3, "The end.")


def _storm(b: _Builder) -> None:
    _open(b, "{A.He} was afraid of storms.", "{A.He} lived in a house on a hill.")
    b.say("{Time}, the sky got dark and the wind began to blow.", "{Time}, big gray clouds came.")
    b.say("There was thunder and lightning.", "Boom! The thunder was very loud.")
    b.say("{A} hid under the table with {A.his} {pet}.", "{A} ran to {P} and held {P.him} tight.")
    b.say('"The storm can\'t hurt you," said {P}.', '"Let\'s count after the lightning," said {P}.')
    b.say("They counted together: one, two, three.", "{P} told {A.him} a funny story.")
    _filler(b, "A", 1)
    b.say("Soon the storm moved away.", "After a while, the rain stopped and the sun came out.")
    _end(b, "{A} was not so afraid of storms anymore.", "{A} saw a big rainbow in the sky.")


def _learn_skill(b: _Builder) -> None:
    _open(b, "{A.He} wanted to learn to {skill}.", "{A.He} could not {skill} yet.")
    b.say("{A.His} friends could all {skill}.", "{A.He} tried and tried, but it was hard.")
    b.say("{Time}, {A.he} fell down and felt {bad}.", "{A} wanted to give up.")
    b.say('"I can\'t do it!" said {A}.', '"It\'s too hard," {A} said.')
    b.say('"Try again," said {P}. "You can do it."', '"Everyone falls at first," said {B}.')
    b.say("{A} tried again and again.", "{A} practiced every day after school.")
    _filler(b, "A", 1)
    b.say("At last, {A.he} could {skill}!", "Then one day, {A.he} did it!")
    b.say('"Look at me!" shouted {A}.', '"I did it!" said {A}.')
    _end(b, "If you keep trying, you can do it.", "{A} was very proud of {A.him}self.")


def _helping_home(b: _Builder) -> None:
    _open(b, "{A.His} room was very messy.", "{A.He} did not like to clean up.")
    b.say(
        "There were toys on the floor and books on the bed.",
        "{A.His} {obj} was under the bed and {A.his} socks were everywhere.",
    )
    b.say('"Please clean your room," said {P}.', '"We have guests coming," said {P}. "Let\'s tidy up."')
    b.say('"But it\'s boring!" said {A}.', "{A} did not want to.")
    b.say("Then {A.he} had an idea. {A.He} made it a game.", '{P} said, "Let\'s see how fast you can do it."')
    b.say(
        "{A} put the toys in a box and the books on the shelf.", "{A} picked up everything and made the bed."
    )
    b.say("{A.He} found {A.his} lost {col} {obj} under the bed!", "{A.He} even swept the floor.")
    _filler(b, "A", 1)
    _end(b, "Now the room was clean and neat.", "Cleaning up can be fun.")


def _free_story(b: _Builder) -> None:
    """A story told mostly by the grammar: an opening, paragraphs of varied sentences, an ending."""
    _open(
        b, "{A.He} had a friend named {B}.", "{A.He} lived with {A.his} {~family}.", "{A.He} loved {~food|s}."
    )
    for paragraph in range(b.rng.randint(1, 3)):
        if paragraph:
            b.para()
        for _ in range(b.rng.randint(3, 6)):
            who = "A" if b.chance(0.7) else "B"
            b.free(who, "B" if who == "A" else "A")
    _end(b, "{A} was {good}.", "It was a {~adj} day.", "{A} and {B} were friends forever.",
         "{A} learned to be {~adj}.", "They had a lot of fun.")  # fmt: skip


def _render_tale(b: _Builder, template: str) -> None:
    for index, paragraph in enumerate(render_tale(template, b.rng, b._slot)):
        if index:
            b.para()
        b.parts.append(paragraph)


def _tale(b: _Builder) -> None:
    """A hand-written tale with its alternatives and slots filled in."""
    _render_tale(b, b.rng.choice(load_tales()))


_SHAPE_FNS: dict[str, Callable[[_Builder], None]] = {
    "lost_object": _lost_object,
    "new_friend": _new_friend,
    "trip": _trip,
    "sharing": _sharing,
    "counting": _counting,
    "scary_noise": _scary_noise,
    "rescue": _rescue,
    "rainy_day": _rainy_day,
    "birthday": _birthday,
    "baking": _baking,
    "school_day": _school_day,
    "hurt_knee": _hurt_knee,
    "bedtime": _bedtime,
    "garden": _garden,
    "snow_day": _snow_day,
    "beach": _beach,
    "pet_care": _pet_care,
    "honesty": _honesty,
    "race": _race,
    "wish": _wish,
    "visit_grandma": _visit_grandma,
    "shopping": _shopping,
    "diary": _diary,
    "routine": _routine,
    "fable": _fable,
    "storm": _storm,
    "learn_skill": _learn_skill,
    "helping_home": _helping_home,
    "free_story": _free_story,
    "tale": _tale,
}
SHAPES: tuple[str, ...] = tuple(_SHAPE_FNS)  # free_story and tale last
FREE_STORY_SHARE = 0.1  # grammar stories: every word in many syntactic roles
TALE_SHARE = 0.65  # hand-written tales: the collocations of real children's stories
ZIPF_EXPONENT = 0.9
POSSESSIVE_PARENT_SHARE = 0.5  # stories whose narration says "her mom" rather than "Mom"
_SPEECH_VERB = re.compile(
    r"\s+(?:said|asked|cried|shouted|called|replied|whispered|laughed|answered|added)\b"
)
_PARENT_NOUNS = {
    "Mom": "mom",
    "Mommy": "mom",
    "Dad": "dad",
    "Daddy": "dad",
    "Grandma": "grandma",
    "Grandpa": "grandpa",
}
_PET_NAMES = (
    "Spot",
    "Max",
    "Fluffy",
    "Buddy",
    "Coco",
    "Bubbles",
    "Sunny",
    "Snow",
    "Pip",
    "Rex",
    "Bella",
    "Milo",
)
_SKILLS = ("ride a bike", "swim", "tie shoes", "read", "skip", "whistle", "climb", "write")
_DISHES = ("cookies", "a cake", "a pie", "pancakes", "bread", "muffins")


def generate_story(rng: random.Random) -> LabeledStory:
    """Generate one random labelled story, drawing every choice from ``rng``."""
    draw = rng.random()
    if draw < TALE_SHARE:
        shape = "tale"
    elif draw < TALE_SHARE + FREE_STORY_SHARE:
        shape = "free_story"
    else:
        shape = rng.choice(SHAPES[:-2])
    b = _new_builder(rng)
    _SHAPE_FNS[shape](b)
    return b.finish(shape)


def render_tale_story(template: str, rng: random.Random) -> LabeledStory:
    """One hand-written tale template (`explorer.demo.tales`) rendered with a random cast and slots."""
    b = _new_builder(rng)
    _render_tale(b, template)
    return b.finish("tale")


def _new_builder(rng: random.Random) -> _Builder:
    """A story builder with a random cast (hero, friend, parent) and per-story slots."""
    a_girl, b_girl = rng.random() < 0.5, rng.random() < 0.5
    a_name = rng.choice(GIRL_NAMES if a_girl else BOY_NAMES)
    b_name = rng.choice([x for x in (GIRL_NAMES if b_girl else BOY_NAMES) if x != a_name])
    parent, parent_girl = rng.choice(_PARENTS)
    cols, pets = rng.sample(LEXICON["colour"], 2), rng.sample(_PETS, 2)
    place = rng.choice(_OUTSIDE)
    n, target = rng.randint(2, 6), rng.randint(3, 10)
    slots = {
        "obj": rng.choice(_TOYS + _THINGS),
        "objs": plural(
            rng.choice(("apple", "cookie", "flower", "shell", "block", "crayon", "stone", "leaf"))
        ),
        "col": cols[0],
        "col2": cols[1],
        "pet": pets[0],
        "pet2": pets[1],
        "pets": plural(rng.choice(_WILD)),
        "petname": rng.choice(_PET_NAMES),
        "place": place,
        "n": NUMBER_WORDS[n - 1],
        "target": NUMBER_WORDS[target - 1],
        "age": rng.choice(NUMBER_WORDS[2:8]),
        "bad": rng.choice(_BAD_FEELINGS),
        "good": rng.choice(_GOOD_FEELINGS),
        "time": rng.choice(TIME_OPENERS[:14]),
        "vehicle": rng.choice(("car", "bus", "train", "boat", "plane")),
        "drink": rng.choice(("milk", "juice", "water", "lemonade", "tea")),
        "hurt": rng.choice(("knee", "arm", "leg", "hand", "foot", "elbow")),
        "dish": rng.choice(_DISHES),
        "skill": rng.choice(_SKILLS),
        "look": rng.choice(LOOK_ADJECTIVES),
        "inout": rng.choice(("inside", "at home", "in bed")),
        "asked_or_said": rng.choice(("said", "asked", "told them", "called out")),
        "toy": rng.choice(_TOYS),
        "town": rng.choice(_TOWN),
    }
    slots["food"], slots["food2"] = rng.sample(_SNACKS, 2)
    slots["animal"], slots["animal2"] = rng.sample(_WILD, 2)
    cast = {"A": _Char(a_name, a_girl), "B": _Char(b_name, b_girl), "P": _Char(parent, parent_girl)}
    return _Builder(rng, cast, slots)


def generate_stories(n: int, seed: int = 0) -> list[LabeledStory]:
    """Generate ``n`` stories, identical for the same ``seed`` in any process."""
    rng = random.Random(seed)
    return [generate_story(rng) for _ in range(n)]


def token_concept_labels(story: LabeledStory, offsets: list[tuple[int, int]]) -> dict[str, list[bool]]:
    """Per concept, one bool per token offset: True when the token overlaps a span of that concept."""
    text, size = story.text, len(story.text)
    masks: dict[str, bytearray] = {}
    for c in CONCEPTS:
        mask = bytearray(size)
        for s, e in story.spans.get(c, ()):
            mask[s:e] = b"\x01" * (e - s)
        masks[c] = mask
    clipped = [(max(0, min(int(s), size)), max(0, min(int(e), size))) for s, e in offsets]
    usable = [s < e and not text[s:e].isspace() for s, e in clipped]
    pairs = list(zip(usable, clipped, strict=True))
    return {c: [ok and masks[c].find(1, s, e) >= 0 for ok, (s, e) in pairs] for c in CONCEPTS}
