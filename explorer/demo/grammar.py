"""A small probabilistic grammar of children's-story English, for the demo corpus.

Story shapes give the corpus its plots; this grammar gives it varied syntax, so the demo model learns
how English sentences are built (word classes, agreement, clauses, dialogue) rather than a fixed set
of sentences. Each function returns a template in `explorer.demo.corpus`' mini-language ({A}, {A.he},
{~pool|form}, ...) for the story builder to fill in; every choice comes from the given random.Random.
"""

from __future__ import annotations

import random

_DETERMINERS = ("a", "the", "the", "the", "{X.his}", "{Y.his}", "their", "this", "that", "one", "another")
_PLURAL_DETERMINERS = (
    "the",
    "some",
    "two",
    "three",
    "many",
    "{X.his}",
    "their",
    "these",
    "all the",
    "lots of",
)
_NOUN_POOLS = ("animal", "object", "toy", "food", "home", "nature", "clothes", "misc", "people", "vehicle")
_ADJ_POOLS = ("size", "look", "colour", "adj", "adj")
_PREPOSITIONS = (
    "in", "on", "under", "behind", "near", "next to", "by", "into", "over", "across", "around", "through",
    "from", "up", "down", "inside", "outside", "with", "to", "toward",
)  # fmt: skip
_OPENERS = (
    "{Time}", "Then", "Suddenly", "After that", "Soon", "At last", "Later", "The next day", "That night",
    "One day", "In the morning", "After a while", "Just then", "All day", "At first", "Every day", "Now",
)  # fmt: skip
_MODALS = (
    "wanted to", "liked to", "tried to", "started to", "had to", "decided to", "forgot to", "did not want to",
    "could not", "could", "would", "was going to", "loved to", "needed to", "began to", "hoped to",
)  # fmt: skip
_LINKING = ("felt", "looked", "seemed", "was", "was", "became", "got")
_SAID = ("said", "said", "said", "asked", "shouted", "cried", "whispered", "replied", "called", "laughed",
         "yelled", "answered", "smiled and said", "told {Y}")  # fmt: skip
_QUESTION_WORDS = ("Where", "What", "Why", "How", "Who", "When")


# Verbs and what they take, so the grammar's sentences make sense: "ate a cookie", not "ate a cloud".
VERB_OBJECTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("eat", ("food",)), ("bake", ("food",)), ("cook", ("food",)), ("taste", ("food",)), ("share", ("food", "toy")),
    ("play", ("toy",)), ("throw", ("toy",)), ("catch", ("toy",)), ("kick", ("toy",)), ("find", ("toy", "object", "animal")),
    ("lose", ("toy", "object")), ("hold", ("toy", "object", "animal")), ("carry", ("object", "toy", "food")),
    ("wear", ("clothes",)), ("fold", ("clothes",)), ("wash", ("clothes", "vehicle", "home")), ("clean", ("home", "vehicle")),
    ("fix", ("toy", "vehicle", "home")), ("paint", ("home", "toy", "picture")), ("draw", ("animal", "picture")),
    ("feed", ("animal",)), ("hug", ("animal", "toy")), ("chase", ("animal",)), ("pet", ("animal",)),
    ("see", ("animal", "nature", "vehicle", "people")), ("watch", ("animal", "vehicle", "nature")),
    ("hear", ("animal", "sound")), ("pick", ("nature", "food")), ("plant", ("nature",)), ("water", ("nature",)),
    ("ride", ("vehicle",)), ("drive", ("vehicle",)), ("read", ("book",)), ("open", ("home", "object")),
    ("close", ("home",)), ("build", ("toy", "home")), ("make", ("food", "toy", "picture")), ("buy", ("food", "toy", "clothes")),
    ("give", ("food", "toy", "object")), ("bring", ("food", "toy", "object")), ("want", ("food", "toy", "animal")),
    ("like", ("food", "toy", "animal")), ("love", ("food", "toy", "animal")), ("need", ("object", "food", "clothes")),
    ("drop", ("toy", "object", "food")), ("keep", ("toy", "object", "animal")), ("show", ("toy", "object", "picture")),
)  # fmt: skip
_OBJECT_POOLS = {"picture": "picture", "book": "book", "sound": "sound"}


class Grammar:
    """Random sentences about a story's cast; `who`/`other` are cast keys ('A', 'B', 'P')."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def choice(self, *options: str) -> str:
        return self.rng.choice(options)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    # -- phrases

    def adjectives(self) -> str:
        n = self.rng.choice((0, 0, 0, 1, 1, 2))
        return "".join(f"{{~{self.rng.choice(_ADJ_POOLS)}}} " for _ in range(n))

    def noun_phrase(self, who: str, plural: bool | None = None, pool: str | None = None) -> str:
        if pool is None and plural is not True and self.chance(0.3):  # the story's own things come back
            return self.choice("the {obj}", "{X.his} {obj}".replace("X", who), "the {pet}", "the {col} {obj}",
                               "the little {pet}", "{~food|np}")  # fmt: skip
        pool = pool or self.rng.choice(_NOUN_POOLS)
        if plural is None:
            plural = self.chance(0.25)
        if plural:
            det = (
                self.rng.choice(_PLURAL_DETERMINERS)
                .replace("X", who)
                .replace("Y", "B" if who != "B" else "A")
            )
            return f"{det} {self.adjectives()}{{~{pool}|s}}"
        det = self.rng.choice(_DETERMINERS).replace("X", who).replace("Y", "B" if who != "B" else "A")
        if det == "a":
            return f"{{~{pool}|np}}" if not self.chance(0.5) else f"a {self.adjectives()}{{~{pool}}}"
        return f"{det} {self.adjectives()}{{~{pool}}}"

    def place_phrase(self, who: str) -> str:
        prep = self.rng.choice(_PREPOSITIONS)
        if self.chance(0.4):
            return f"{prep} the {self.choice('{~placeall}', '{place}', '{place}')}"
        return f"{prep} {self.noun_phrase(who, plural=False, pool=self.choice('home', 'nature', 'misc', 'object'))}"

    def subject(self, who: str, other: str) -> tuple[str, bool]:
        """A subject template and whether it is plural."""
        roll = self.rng.random()
        if roll < 0.3:
            return f"{{{who}}}", False
        if roll < 0.55:
            return f"{{{who}.he}}", False
        if roll < 0.65:
            return f"{{{who}}} and {{{other}}}", True
        if roll < 0.75:
            return "they", True
        if roll < 0.82:
            return "{P}", False
        if roll < 0.9:
            return f"the {self.adjectives()}{{~animalall}}", False
        if roll < 0.95:
            return f"{{{other}}}", False
        return "the {~people}", False

    def object_pronoun(self, who: str, other: str) -> str:
        return self.choice(f"{{{who}.him}}", f"{{{other}.him}}", "them", "it", f"{{{other}}}", "{P}")

    # -- verb phrases (past tense, narrative)

    def verb_phrase(self, who: str, other: str, plural: bool) -> str:
        was = "were" if plural else "was"
        roll = self.rng.random()
        if roll < 0.14:
            tail = self.choice("", " {~adv}", " " + self.place_phrase(who), " all day", " again", " together")
            return "{~intrans|past}" + tail
        if roll < 0.30:
            tail = self.choice(
                "", "", " " + self.place_phrase(who), " {~adv}", " with " + self.object_pronoun(who, other)
            )
            return f"{self.transitive(who, 'past')}{tail}"
        if roll < 0.36:
            return f"gave {self.object_pronoun(who, other)} {self.noun_phrase(who, plural=False)}"
        if roll < 0.46:
            return self.choice(
                f"{was} {{~feeling}}", f"{was} very {{~adj}}", f"{was} {{~intrans|ing}} {self.place_phrase(who)}",
                f"{was} so {{~feeling}}", f"{was} not {{~feeling}}", f"{was} {self.place_phrase(who)}",
                f"{was} {{~intrans|ing}}",
            )  # fmt: skip
        if roll < 0.60:
            verb = self.choice("{~intrans}", self.transitive(who, "base"), "go to the {~placeall}",
                               "play with " + self.noun_phrase(who), "see " + self.noun_phrase(who))  # fmt: skip
            return f"{self.choice(*_MODALS)} {verb}"
        if roll < 0.67:
            return f"{self.choice(*_LINKING)} {self.choice('{~feeling}', '{~adj}', 'very {~feeling}', 'a little {~feeling}')}"
        if roll < 0.74:
            return f"{{~sense|past}} {self.noun_phrase(who)} {{~intrans|ing}} {self.place_phrase(who)}"
        if roll < 0.79:
            return self.choice("went to the {~placeall}", "came home", "went outside", "ran home", "came back",
                               "went to bed", "got up", "sat down", "looked around", "went inside")  # fmt: skip
        if roll < 0.84:
            return f"put {self.noun_phrase(who, plural=False)} {self.place_phrase(who)}"
        if roll < 0.89:
            return f"{self.choice('had', 'loved', 'liked', 'found', 'wanted', 'needed', 'made')} {self.noun_phrase(who)}"
        if roll < 0.94:
            return f"helped {self.object_pronoun(who, other)} {self.transitive(who, 'base')}"
        return f"did not {self.transitive(who, 'base')}"

    def transitive(self, who: str, form: str) -> str:
        """A verb in `form` with an object that suits it ("fed the hungry dog")."""
        verb, pools = self.rng.choice(VERB_OBJECTS)
        if self.chance(0.3):  # the long tail of transitive verbs, with any object
            return f"{{~thing|{form}}} {self.noun_phrase(who)}"
        pool = self.rng.choice(pools)
        particle = " with" if verb == "play" else ""
        if pool in _OBJECT_POOLS:
            return f"{{={verb}|{form}}}{particle} {self.choice('a', 'the', 'that')} {self.adjectives()}{pool}"
        return f"{{={verb}|{form}}}{particle} {self.noun_phrase(who, pool=pool)}"

    def clause(self, who: str, other: str) -> str:
        subject, plural = self.subject(who, other)
        verb = self.verb_phrase(who, other, plural)
        if self.chance(0.1):
            verb += " and " + self.verb_phrase(who, other, plural)
        return f"{subject} {verb}"

    # -- dialogue (present tense, first and second person)

    def utterance(self, who: str, other: str) -> str:
        roll = self.rng.random()
        np = self.noun_phrase(who).replace("{" + who + ".his}", "my").replace("their", "our")
        if roll < 0.1:
            return self.choice(f"I want to {self.transitive(who, 'base')}.".replace("{" + who + ".his}", "my"), f"I like {np}.", f"I have {np}.", "I can {~intrans}!",
                               "I am {~feeling}.", "I don't want to {~intrans}.", "I will {~thing} it.")  # fmt: skip
        if roll < 0.22:
            return self.choice("Do you want to {~intrans}?", f"Can we {{~thing}} {np}?", f"Can I have {np}?",
                               "Will you {~thing} it for me?", "Are you okay?", f"Do you like {np}?",
                               f"Have you seen {np}?")  # fmt: skip
        if roll < 0.34:
            word = self.choice(*_QUESTION_WORDS)
            tails = {"Where": f"is {np}?", "What": self.choice("is that?", "are you doing?", "happened?"),
                     "Why": "are you {~feeling}?", "How": self.choice("are you?", "did you do that?"),
                     "Who": "is there?", "When": "can we go to the {~placeall}?"}  # fmt: skip
            return f"{word} {tails[word]}"
        if roll < 0.46:
            return self.choice("Let's {~intrans}!", f"Look at {np}!", "Come with me to the {~placeall}.",
                               f"Please {{~thing}} {np}.", f"Don't {{~thing}} {np}!", "Be careful!",
                               f"Give me {np}, please.", "Wait for me!")  # fmt: skip
        if roll < 0.56:
            return self.choice("You are so {~adj}!", "You can {~intrans} with me.", "You did it!",
                               f"You're my best friend, {{{other}}}.")  # fmt: skip
        if roll < 0.66:
            return self.choice("It is {~adj}.", f"This is {np}.", f"That's {np}!", "It's too {~adj}.",
                               "It's okay.", f"There is {np} {self.place_phrase(who)}!")  # fmt: skip
        if roll < 0.74:
            return self.choice("We are going to the {~placeall}.", f"We can {{~thing}} {np} together.",
                               f"We need {np}.", "We did it!")  # fmt: skip
        if roll < 0.82:
            return self.choice("Thank you!", "Yes, please!", "No, thank you.", "I'm sorry.", "Wow!", "Oh no!",
                               "Hooray!", "Good night!", "Hello!", "Goodbye!", "Okay!")  # fmt: skip
        return "{say}"

    def dialogue_line(self, who: str, other: str) -> str:
        speech = self.utterance(who, other)
        said = self.choice(*_SAID).replace("{Y}", "{" + other + "}")
        if speech.endswith("?") and said == "said":
            said = "asked"
        if speech == "{say}":  # a line from the corpus' own list: its punctuation is not known here
            return f'{{{who}}} {said}, "{{say}}"'
        body = speech[:-1] if speech.endswith(".") else speech
        return self.choice(
            f'"{body}," {said} {{{who}}}.' if speech.endswith(".") else f'"{speech}" {said} {{{who}}}.',
            f'{{{who}}} {said}, "{speech}"',
            f'"{body}," {{{who}.he}} {said}.' if speech.endswith(".") else f'"{speech}" {{{who}.he}} {said}.',
        )

    # -- sentences

    def sentence(self, who: str, other: str) -> str:
        roll = self.rng.random()
        if roll < 0.22:
            return self.dialogue_line(who, other)
        first = self.clause(who, other)
        if roll < 0.50:
            return first + "."
        if roll < 0.58:
            return f"{self.choice(*_OPENERS)}, {first}."
        if roll < 0.63:
            return f"{first}, {self.choice('and', 'but', 'so')} {self.clause(who, other)}."
        if roll < 0.70:
            return f"When {first}, {self.clause(who, other)}."
        if roll < 0.76:
            return f"{first} because {self.clause(who, other)}."
        if roll < 0.81:
            plural = self.chance(0.3)
            return f"There {'were' if plural else 'was'} {self.noun_phrase(who, plural=plural)} {self.place_phrase(who)}."
        if roll < 0.85:
            return f"It was {self.choice('a {~weatheradj} day', 'very {~adj}', 'time to {~intrans}', 'a {~adj} {~time2}')}."
        if roll < 0.89:
            return f"{first} {self.choice('after', 'before', 'until', 'while')} {self.clause(who, other)}."
        subject, plural = self.subject(who, other)
        items = ", ".join(self.noun_phrase(who, plural=False) for _ in range(2))
        return f"{subject} {self.choice('saw', 'found', 'had', 'wanted', 'liked')} {items} and {self.noun_phrase(who, plural=False)}."
