"""Deterministic TinyStories-style synthetic children's stories with concept spans.

Stories are assembled sentence by sentence from small templates ("story shapes")
whose slots are tagged while the text is written, so every occurrence of a
concept word (character name, pronoun, colour, animal, number word, place,
feeling, object) and every quoted passage gets an exact ``[start, end)``
character span: ``text[start:end]`` is the word itself, or the quoted passage
including both double quotes.  Literal template text never contains a lexicon
word or a pronoun, so the spans are complete as well as exact.

Template mini-language used by ``_Builder.say``:

* ``{A}`` / ``{B}``: the name of the hero / the second character;
* ``{A.he}``, ``{A.him}``, ``{A.his}``: A's pronoun (he/she, him/her, his/her);
  ``{A.girl}`` and ``{A.brother}`` are gendered nouns that carry no concept;
* ``{col:red}`` (prefixes col, ani, num, place, feel, obj): a fixed lexicon word;
* ``{pet}``, ``{obj}``, ``{n}``, ``{at}`` ...: a per-story slot (see ``generate_story``;
  slots with concept "" get no span);
* an upper-case first letter in a key (``{A.He}``, ``{Num:one}``) capitalises;
* literal ``"`` characters open and close quote spans.

Only ``random.Random`` methods are used for choices, so a seed gives identical
stories in every process.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

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
)

GIRL_NAMES: tuple[str, ...] = (
    "Lily",
    "Mia",
    "Emma",
    "Anna",
    "Sara",
    "Lucy",
    "Ella",
    "Ruby",
    "Zoe",
    "Amy",
    "Kate",
    "Rose",
    "Nora",
    "Ava",
    "Grace",
    "Chloe",
    "Molly",
    "Daisy",
    "Hannah",
    "Sophie",
    "Lena",
    "Maya",
    "Julia",
    "Alice",
    "Emily",
    "Clara",
    "Ivy",
    "Jane",
    "Ellie",
    "Bella",
)
BOY_NAMES: tuple[str, ...] = (
    "Tom",
    "Ben",
    "Max",
    "Sam",
    "Tim",
    "Jack",
    "Leo",
    "Jake",
    "Finn",
    "Luke",
    "Noah",
    "Owen",
    "Adam",
    "Liam",
    "Ryan",
    "Eli",
    "Dan",
    "Joe",
    "Nick",
    "Paul",
    "Oscar",
    "Henry",
    "Theo",
    "Lucas",
    "Ethan",
    "Milo",
    "Oliver",
    "Jimmy",
    "Bobby",
    "Peter",
)
NUMBER_WORDS: tuple[str, ...] = (
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
)
PRONOUNS: tuple[str, ...] = ("he", "she", "him", "her", "his")
LEXICON: dict[str, tuple[str, ...]] = {
    "colour": ("red", "blue", "green", "yellow", "pink", "purple", "orange", "white", "black", "brown"),
    "animal": (
        "cat",
        "dog",
        "bird",
        "rabbit",
        "fox",
        "frog",
        "duck",
        "bear",
        "owl",
        "fish",
        "pig",
        "cow",
        "horse",
        "sheep",
        "lion",
        "elephant",
        "monkey",
        "turtle",
        "squirrel",
        "puppy",
        "kitten",
        "bee",
        "butterfly",
    ),
    "number": NUMBER_WORDS,
    "place": (
        "park",
        "forest",
        "garden",
        "beach",
        "school",
        "farm",
        "lake",
        "hill",
        "zoo",
        "pond",
        "field",
        "playground",
        "river",
        "market",
    ),
    "feeling": (
        "happy",
        "glad",
        "sad",
        "upset",
        "scared",
        "afraid",
        "angry",
        "excited",
        "proud",
        "tired",
        "surprised",
        "worried",
        "shy",
        "lonely",
        "calm",
    ),
    "object": (
        "ball",
        "kite",
        "box",
        "hat",
        "cup",
        "book",
        "doll",
        "boat",
        "train",
        "drum",
        "balloon",
        "shoe",
        "apple",
        "cookie",
        "flower",
        "shell",
        "block",
        "crayon",
        "blanket",
        "key",
        "bell",
        "umbrella",
        "cake",
        "lamp",
    ),
}
SHAPES: tuple[str, ...] = (
    "lost_object",
    "new_friend",
    "trip",
    "sharing",
    "counting",
    "scary_noise",
    "rescue",
    "rainy_day",
)

_TOYS = ("ball", "kite", "doll", "boat", "train", "drum", "balloon")
_COUNTABLES = ("apple", "cookie", "flower", "shell", "block", "crayon", "balloon", "ball", "cake")
_PETS = (
    "cat",
    "dog",
    "bird",
    "rabbit",
    "fox",
    "frog",
    "duck",
    "owl",
    "puppy",
    "kitten",
    "squirrel",
    "turtle",
    "butterfly",
)
_TRIPS = {
    "zoo": ("lion", "elephant", "monkey", "bear"),
    "farm": ("cow", "pig", "horse", "sheep", "duck"),
    "beach": ("fish", "turtle", "bird"),
    "forest": ("fox", "owl", "rabbit", "bear", "squirrel"),
    "lake": ("duck", "frog", "fish", "turtle"),
    "park": ("dog", "bird", "squirrel", "duck"),
    "garden": ("bee", "butterfly", "bird", "frog"),
}
_OUTSIDE = ("park", "forest", "garden", "beach", "hill", "pond", "field", "playground", "river")
_ALIAS = {
    "col": "colour",
    "ani": "animal",
    "num": "number",
    "place": "place",
    "feel": "feeling",
    "obj": "object",
}
_GENDERED = {
    "he": ("he", "she"),
    "him": ("him", "her"),
    "his": ("his", "her"),
    "girl": ("boy", "girl"),
    "brother": ("brother", "sister"),
}
_KEY = re.compile(r"\{([^{}]+)\}")


def plural(word: str) -> str:
    """Return the regular English plural of a lexicon word (fish and sheep stay the same)."""
    if word in ("fish", "sheep"):
        return word
    if word.endswith(("s", "x", "sh", "ch")):
        return word + "es"
    if word.endswith("y") and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def is_lexicon_word(concept: str, word: str) -> bool:
    """True when ``word`` (any case) is a lexicon word of ``concept`` or its plural."""
    w = word.lower()
    return any(w == x or w == plural(x) for x in LEXICON.get(concept, ()))


@dataclass(frozen=True)
class LabeledStory:
    """A story plus concept -> sorted list of exact ``[start, end)`` character spans."""

    text: str
    spans: dict[str, list[tuple[int, int]]]
    shape: str = ""


@dataclass(frozen=True)
class _Char:
    name: str
    girl: bool


class _Builder:
    """Appends template sentences to the text while recording concept spans."""

    def __init__(self, rng: random.Random, cast: dict[str, _Char], slots: dict[str, tuple[str, str]]) -> None:
        self.rng, self.cast, self.slots = rng, cast, slots
        self.text = ""
        self.spans: dict[str, list[tuple[int, int]]] = {c: [] for c in CONCEPTS}
        self._quote: int | None = None
        self.target = 3
        self.counting = ""

    def say(self, *options: str) -> None:
        """Append one randomly chosen template sentence (a single option is used as is)."""
        fmt = options[0] if len(options) == 1 else self.rng.choice(options)
        fmt = fmt.replace("{Counting}", self.counting)
        if self.text and not self.text.endswith("\n"):
            self._literal(" ")
        for i, piece in enumerate(_KEY.split(fmt)):
            if i % 2:
                self._slot(piece)
            elif piece:
                self._literal(piece)

    def maybe(self, p: float, *options: str) -> None:
        """With probability ``p``, ``say`` one of ``options``."""
        if self.chance(p):
            self.say(*options)

    def chance(self, p: float) -> bool:
        """True with probability ``p``."""
        return self.rng.random() < p

    def para(self) -> None:
        """Start a new paragraph."""
        self._literal("\n\n")

    def _literal(self, s: str) -> None:
        start = len(self.text)
        for i, ch in enumerate(s):
            if ch == '"':
                if self._quote is None:
                    self._quote = start + i
                else:
                    self.spans["quote"].append((self._quote, start + i + 1))
                    self._quote = None
        self.text += s

    def _slot(self, key: str) -> None:
        concept: str | None
        cap = key[0].isupper()
        if "." in key:
            who, attr = key.split(".")
            cap, word = attr[0].isupper(), _GENDERED[attr.lower()][self.cast[who].girl]
            concept = "pronoun" if attr.lower() in ("he", "him", "his") else None
        elif ":" in key:
            prefix, word = key.split(":")
            concept = _ALIAS[prefix.lower()]
            assert is_lexicon_word(concept, word), key
        elif key in self.cast:
            word, concept = self.cast[key].name, "name"
        else:
            concept, word = self.slots[key.lower()]
        if cap:
            word = word[0].upper() + word[1:]
        t = self.text
        if (
            concept
            and concept != "name"
            and word[0] in "aeiouAEIOU"
            and t.endswith(("a ", "A "))
            and (len(t) == 2 or not t[-3].isalnum())
        ):
            self.text = t[:-1] + "n "  # "a apple" -> "an apple"
        start = len(self.text)
        self.text += word
        if concept:
            self.spans[concept].append((start, len(self.text)))

    def finish(self, shape: str) -> LabeledStory:
        assert self._quote is None, "unbalanced quote"
        return LabeledStory(self.text.strip(), {c: sorted(v) for c, v in self.spans.items()}, shape)


def _count_to(k: int) -> str:
    return ", ".join("{" + ("Num:" if i == 0 else "num:") + w + "}" for i, w in enumerate(NUMBER_WORDS[:k]))


def _at(place: str) -> str:
    return "in" if place in ("forest", "garden", "field") else "at"


def _open(b: _Builder, *follow: str) -> None:
    b.say(
        "Once upon a time, there was a little {A.girl} named {A}.",
        "Once upon a time, there lived a little {A.girl} named {A}.",
        "Once upon a time, in a small town, there was a {A.girl} named {A}.",
        "There was once a little {A.girl} named {A}.",
        "There was a little {A.girl} named {A}.",
        "Long ago, there was a kind little {A.girl} named {A}.",
        "{A} was a little {A.girl} who lived in a small town.",
    )
    b.maybe(0.25, "{A.He} was {age} years old.")
    b.say(*follow)


def _end(b: _Builder, *morals: str) -> None:
    b.say(*morals)
    b.maybe(0.35, "The end.")


def _lost_object(b: _Builder) -> None:
    b.slots["obj"] = ("object", b.rng.choice(_TOYS + ("hat", "shoe", "bell", "book", "key")))
    _open(
        b,
        "{A.He} had a {col} {obj} that {A.he} loved very much.",
        "{A.His} favourite thing was a {col} {obj}.",
        "{A.He} loved {A.his} {col} {obj} more than anything.",
    )
    b.maybe(0.6, "{A.He} took it everywhere {A.he} went.", "Every day, {A.he} took it to the {place}.")
    b.para()
    b.say(
        "On a sunny morning, {A} went to the {place} with {A.his} {obj}.",
        "The next day, {A} took the {obj} to the {place}.",
        "After lunch, {A} and Mom went to the {place}.",
    )
    b.say("{A.He} ran and jumped and played all day.", "{A.He} played until it was time to go.")
    b.say(
        "But when {A.he} looked down, the {obj} was gone!",
        "But then {A.he} saw that {A.his} {obj} was not there!",
    )
    b.say("{A.He} felt very {sad}.", "{A} was so {sad} that {A.he} began to cry.")
    b.say('"Where is my {obj}?" {A} asked.', '"Oh no! I lost my {col} {obj}!" cried {A}.')
    b.para()
    if b.chance(0.5):
        b.say("Just then, {A.his} friend {B} came by.", "Then {A.his} friend {B} came to help.")
        b.say('"Do not be {sad}," said {B}. "I will help you look."', '"I can help you find it," said {B}.')
        b.say("They looked under the slide and behind the trees.", "They looked high and low.")
        b.maybe(0.5, "They looked in {num:three} places, but the {obj} was not there.")
        b.say("At last, {B} saw something {col} in the grass.", "Then {B} saw something {col} under a bush.")
        b.say('"Look, {A}! Here it is!" said {B}.', '"I found it!" shouted {B}.')
    else:
        b.say("Then a little {pet} came running to {A.him}.", "Just then, a {pet} came out of the bushes.")
        b.say("The {pet} had the {col} {obj}!", "In its mouth was the {col} {obj}!")
        b.say("It had found the {obj} under a big tree.", "It had kept the {obj} safe all day.")
    b.say("{A.He} was so {good}.", "{A} hugged {A.his} {obj} and smiled.")
    b.say('"Thank you so much!" said {A}.', '"Thank you!" {A} said with a big smile.')
    _end(
        b,
        "From that day on, {A} always kept {A.his} {obj} close.",
        "{A} learned to take good care of {A.his} things.",
        "{A} never lost {A.his} {obj} again.",
    )


def _new_friend(b: _Builder) -> None:
    _open(
        b,
        "{A.He} had just moved to a new town.",
        "{A.He} did not have many friends at {place:school}.",
        "{A.He} was a little {feel:shy}.",
    )
    b.say("Every day, {A.he} played alone {at} the {place}.", "{A.He} often sat alone {at} the {place}.")
    b.say("{A.He} felt {feel:lonely}.", "Sometimes {A.he} felt {feel:lonely} and {sad}.")
    b.para()
    b.say(
        "Then {A.he} saw a {B.girl} with a {col} {obj}.",
        "The next day, {A.he} saw a {B.girl} playing with a {obj}.",
    )
    if b.chance(0.6):
        b.say(
            '"Hello, I am {B}," said the {B.girl}. "What is your name?"',
            '"Hi! My name is {B}," said the {B.girl}.',
        )
        b.say('"My name is {A}," said {A}.', '"I am {A}," {A} said.')
    else:
        b.say("The {B.girl}'s name was {B}.", "{B.His} name was {B}.")
    if b.chance(0.5):
        b.say('"Can I play with your {obj}?" asked {A}.')
        b.say('"Yes! We can play together," said {B}.', '"Of course!" said {B} with a smile.')
    else:
        b.say('"Do you want to play with me?" asked {B}.', '"Do you want to play with my {obj}?" asked {B}.')
        b.say('"Yes, please!" said {A}.', '"I would love to!" said {A}.')
    b.say("They played with the {obj} all afternoon.", "They took turns with the {obj} and laughed a lot.")
    b.maybe(
        0.6,
        "Then they counted {n} {col2} {pets} {at} the {place}.",
        'They saw {n} little {pets}. "{Counting}!" they counted.',
    )
    b.maybe(0.5, "{B} showed {A} a {col2} {obj2}, and {A} showed {B} a big tree.")
    b.para()
    b.say("{A} was not {feel:lonely} anymore.", "{A} felt {good} inside.")
    _end(
        b,
        "From that day on, {A} and {B} were best friends.",
        "It is nice to make a new friend.",
        "{A} learned that a small hello can make a big friend.",
    )


def _trip(b: _Builder) -> None:
    place = b.rng.choice(tuple(_TRIPS))
    pets = b.rng.sample(_TRIPS[place], 2)
    b.slots.update(
        place=("place", place), at=("", _at(place)), pet=("animal", pets[0]), pets=("animal", plural(pets[1]))
    )
    _open(
        b,
        "{A.He} loved animals.",
        "{A.He} wanted to go to the {place} more than anything.",
        "{A.He} always asked to visit the {place}.",
    )
    b.para()
    b.say(
        "Because it was a sunny day, Mom said they could go to the {place}.",
        "The sun was shining, so Dad took {A} to the {place}.",
        "It was a warm day, so the family went to the {place}.",
    )
    b.maybe(0.3, "On the way, they stopped at the {place:market}.")
    b.say("{A} was so {feel:excited}!", "{A.He} felt very {feel:excited}.")
    b.say("{At} the {place}, {A.he} saw {n} {pets}.", "First, {A.he} saw {n} little {pets}.")
    b.say('"{Counting}!" {A} counted.', '"Look, there are {n} {pets}!" said {A}.')
    b.say(
        "Then {A.he} saw a big {pet}.", "Next, {A.he} saw a very big {pet}.", "Then a funny {pet} came close."
    )
    b.say('"Look, a {pet}!" shouted {A}.', '"I like the {pet} best," said {A}.')
    b.maybe(0.6, "The {pet} made {A.him} laugh.", "{A} waved at the {pet}.")
    b.maybe(
        0.6, "Then they sat down and ate {num:two} {food} each.", "Mom gave {A} a {col2} {obj:cup} of juice."
    )
    b.para()
    b.say(
        "When the sun went down, {A} was very {feel:tired}, so they went home.",
        "At the end of the day, {A} felt {feel:tired} but {good}.",
    )
    _end(
        b,
        "It was the best day ever.",
        "{A} could not wait to go back to the {place}.",
        "That night, {A} dreamed of the {pet}.",
    )


def _sharing(b: _Builder) -> None:
    b.say(
        "{A} and {B} were best friends.",
        "Once upon a time, {A} and {B} lived next door to each other.",
        "{A} had a little {B.brother} named {B}.",
    )
    b.say("They liked to play {at} the {place}.", "They played together every day.")
    b.say(
        "On a sunny morning, they found a {col} {obj} {at} the {place}.",
        "Grandma gave them a new {col} {obj}.",
    )
    b.say('"It is mine!" said {A}.', '"I saw it first!" said {A}.')
    b.say('"No, it is mine!" said {B}.', '"No, I want it!" cried {B}.')
    b.say("They both pulled the {obj}.", "They pulled and pulled.")
    b.say("{A} was {feel:angry}, and {B} was {feel:angry} too.", "Both of them were very {feel:angry}.")
    b.para()
    if b.chance(0.6):
        b.slots["parent"] = ("", b.rng.choice(("Mom", "Dad")))
        b.say("Then {parent} came over.", "Just then, {parent} came in.")
        b.say(
            '"Why not share?" asked {parent}. "You can take turns."',
            '"You can both play with it," said {parent}.',
        )
    else:
        b.say("Just then, a wise old {pet} came by.", "A little {pet} sat down and looked at them.")
        b.say('"Why are you so {feel:angry}?" asked the {pet}. "You can share!"')
    b.say("{A} thought about it.", "{A} looked at {B}.")
    b.say("{A} gave the {obj} to {B} first.", '"You can go first," said {A}.')
    b.say("Then {B} gave it back to {A}.", "After a while, {B} gave the {obj} to {A}.")
    b.say("Because they shared, they both had fun.", "They took turns, so nobody was {sad}.")
    b.maybe(0.5, "They took {n} turns each.", "{B} counted their turns: " + '"{Counting}!"')
    b.para()
    b.say("They played until the sun went down.", "They laughed and played all day.")
    _end(
        b,
        "Sharing is caring.",
        "{A} and {B} learned that sharing makes everyone {feel:happy}.",
        "It is more fun to play together.",
    )


def _counting(b: _Builder) -> None:
    _open(b, "{A.He} loved to count things.", "{A.His} favourite game was counting.")
    b.say("{A.He} counted {A.his} toys every morning.", "{A.He} counted the {pets} {at} the {place}.")
    b.para()
    b.say(
        "On a sunny morning, {A} and {A.his} friend {B} went to the {place}.",
        "The next day, {A} went to the {place} with {B}.",
    )
    b.say('"Let us find {target} {col} {objs}!" said {B}.', '"Can we find {target} {col} {objs}?" asked {A}.')
    total, turn = 0, "A"
    while total < b.target:
        k = min(b.rng.randint(1, 3), b.target - total)
        total += k
        b.slots.update(k=("number", NUMBER_WORDS[k - 1]), tot=("number", NUMBER_WORDS[total - 1]))
        b.say("{" + turn + "} found {k}" + (" more." if total > k else "."))
        b.maybe(0.5, "Now they had {tot}.")
        turn = "B" if turn == "A" else "A"
    b.say('"' + _count_to(total) + '!" they counted together.')
    b.para()
    b.say('"We did it!" said {B}.', '"We found {target}!" said {A}.')
    b.say("They were so {feel:proud}.", "{A} felt {feel:proud}, and {B} was {good} too.")
    b.maybe(0.5, "They put the {objs} in a {obj:box} and took it home.")
    _end(
        b, "Counting is more fun with a friend.", "{A} and {B} played the counting game every day after that."
    )


def _scary_noise(b: _Builder) -> None:
    _open(b, "{A.He} lived near a big {place}.", "{A.His} house was next to the {place}.")
    b.para()
    b.say("At night, {A} heard a strange noise outside.", "Late at night, {A.he} heard a loud bump.")
    b.say("The noise came {num:three} times. Bump! Bump! Bump!", "Scratch, scratch, went the noise.")
    b.say('"What was that?" {A} asked.', '"Who is there?" whispered {A}.')
    b.say("{A} was very {feel:scared}.", "{A.He} felt {feel:scared} and hid under {A.his} {obj:blanket}.")
    b.say("{A.He} wanted to hide, but {A.he} wanted to be brave too.", "{A.His} heart went thump, thump.")
    b.say("So {A.he} took {A.his} little {obj:lamp} and went to look.", "So {A.he} went outside to look.")
    b.para()
    b.say("{A.He} looked behind the big tree.", "{A.He} looked under the bush.")
    b.say("It was just a little {pet}!", "There was a small {col} {pet}!")
    b.maybe(0.4, "{A} was very {feel:surprised}.")
    b.say("The {pet} was {feel:scared} too.", "The {pet} was lost and {sad}.")
    b.say('"Do not be {feel:afraid}," said {A}. "I will not hurt you."', '"Hello, little {pet}," said {A}.')
    b.say("{A} gave the {pet} some water.", "{A} gave the {pet} a {obj:cookie}.")
    b.say(
        "The {pet} was {feel:happy} and it stayed with {A.him}.",
        "The {pet} was {good}, so it went back home.",
    )
    _end(
        b,
        "{A} laughed. There was nothing to be {feel:scared} of.",
        "{A} learned that things are not always as scary as they seem.",
    )


def _rescue(b: _Builder) -> None:
    _open(b, "{A.He} liked to play {at} the {place}.", "{A.He} was kind to every animal.")
    b.para()
    b.say("On a windy day, {A.he} heard a small cry.", "The next day, {A.he} heard a little noise.")
    b.say("A little {pet} was stuck up in a tree.", "A little {pet} was stuck in the mud.")
    b.say("The {pet} was {feel:scared} and could not get out.", "The {pet} looked {sad} and cold.")
    b.say('"I will help you, little {pet}," said {A}.', '"Do not worry, I am here," said {A}.')
    if b.chance(0.5):
        b.say("{A} ran to get {A.his} friend {B}.", "{A} called {A.his} friend {B}.")
        b.say("{B} was tall, so {B.he} could reach the {pet}.", "{B} brought a long rope.")
        b.say("Together they got the {pet} out.", "They worked together, so the {pet} was safe.")
    else:
        b.say("{A} was small, so {A.he} stood on a {obj:box}.", "{A} reached and reached.")
        b.say("At last, {A.he} got the {pet} out.", "After {num:two} tries, {A.he} got the {pet} out.")
    b.say("The {pet} was safe!", "The {pet} was {feel:calm} now.")
    b.maybe(0.6, '"Thank you," said the {pet}.', "The {pet} looked at {A} with big eyes.")
    b.para()
    b.say("The {pet} followed {A} home, and they became friends.", "{A} felt {feel:proud} and {good}.")
    _end(b, "It is good to help others.", "Helping others makes you {feel:happy} too.")


def _rainy_day(b: _Builder) -> None:
    _open(
        b, "{A.He} wanted to play {at} the {place} with {A.his} {col} {obj}.", "{A.He} loved to play outside."
    )
    b.say("But when {A.he} looked outside, it was raining.", "But dark clouds came, and it began to rain.")
    b.say(
        "Because it was raining, {A} could not go to the {place}.",
        "It was raining hard, so {A} had to stay inside.",
    )
    b.say("{A.He} felt {sad}.", "{A} was {sad} and bored.")
    b.say('"What can I do now?" asked {A}.', '"I want to go out!" said {A}.')
    b.para()
    if b.chance(0.5):
        b.say("Then {A.he} had an idea.", "Then Mom gave {A.him} some paper.")
        b.say(
            "{A.He} took out {A.his} {obj:crayons} and drew {n} {col2} {pets}.",
            "{A.He} drew a {col2} {obj2} and {num:one} big sun.",
        )
        b.maybe(0.6, '"Look, Mom! I made a picture!" said {A}.')
    else:
        b.say("Then {A.his} {B.brother} {B} came to play.", "Then {A.his} friend {B} came over.")
        b.say(
            "They made a fort with a big {obj:blanket}.",
            "They made a little {obj:boat} out of paper.",
            "They built a tall tower with {n} {col2} {obj:blocks}.",
        )
        b.maybe(0.6, '"This is fun!" said {B}.', '"Let us play again tomorrow," said {B}.')
    b.say("Soon the rain stopped and the sun came out.", "After a while, the rain stopped.")
    b.say("{A} ran outside to jump in the puddles.", "{A} took {A.his} {obj:umbrella} and went out to play.")
    b.say("{A} was {feel:happy} again.", "{A} felt {good}.")
    _end(b, "Even a rainy day can be fun.", "{A} learned that there is always something fun to do.")


_SHAPE_FNS: dict[str, Callable[[_Builder], None]] = {
    "lost_object": _lost_object,
    "new_friend": _new_friend,
    "trip": _trip,
    "sharing": _sharing,
    "counting": _counting,
    "scary_noise": _scary_noise,
    "rescue": _rescue,
    "rainy_day": _rainy_day,
}


def generate_story(rng: random.Random) -> LabeledStory:
    """Generate one random labelled story, drawing every choice from ``rng``."""
    shape = rng.choice(SHAPES)
    a_girl, b_girl = rng.random() < 0.5, rng.random() < 0.5
    a_name = rng.choice(GIRL_NAMES if a_girl else BOY_NAMES)
    b_name = rng.choice([x for x in (GIRL_NAMES if b_girl else BOY_NAMES) if x != a_name])
    cols, pets, toy = rng.sample(LEXICON["colour"], 2), rng.sample(_PETS, 2), rng.choice(_TOYS)
    other = rng.choice([x for x in LEXICON["object"] if x != toy])
    place = rng.choice(_OUTSIDE)
    n, target = rng.randint(2, 6), rng.randint(3, 10)
    slots = {
        "obj": ("object", toy),
        "obj2": ("object", other),
        "objs": ("object", plural(rng.choice(_COUNTABLES))),
        "col": ("colour", cols[0]),
        "col2": ("colour", cols[1]),
        "pet": ("animal", pets[0]),
        "pets": ("animal", plural(pets[1])),
        "place": ("place", place),
        "at": ("", _at(place)),
        "n": ("number", NUMBER_WORDS[n - 1]),
        "target": ("number", NUMBER_WORDS[target - 1]),
        "age": ("number", rng.choice(NUMBER_WORDS[3:7])),
        "food": ("object", rng.choice(("apples", "cookies"))),
        "sad": ("feeling", rng.choice(("sad", "upset", "worried"))),
        "good": ("feeling", rng.choice(("happy", "glad"))),
    }
    b = _Builder(rng, {"A": _Char(a_name, a_girl), "B": _Char(b_name, b_girl)}, slots)
    b.target, b.counting = target, _count_to(n)
    _SHAPE_FNS[shape](b)
    return b.finish(shape)


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
