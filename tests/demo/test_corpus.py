"""Tests for the synthetic labelled story corpus."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from explorer.demo.corpus import (
    BOY_NAMES,
    CONCEPTS,
    GIRL_NAMES,
    LEXICON,
    PRONOUNS,
    SHAPES,
    LabeledStory,
    generate_stories,
    is_lexicon_word,
    token_concept_labels,
)
from explorer.demo.generalisation import read_stories, unseen_word_share

ROOT = Path(__file__).resolve().parents[2]
WORD_CONCEPTS = tuple(c for c in CONCEPTS if c not in ("name", "pronoun", "quote"))


@pytest.fixture(scope="module")
def stories() -> list[LabeledStory]:
    return generate_stories(2000, seed=0)


def _digest(seed: int) -> str:
    data = repr([(s.text, s.spans) for s in generate_stories(200, seed=seed)])
    return hashlib.sha256(data.encode()).hexdigest()


def test_deterministic_for_same_seed_and_different_across_seeds() -> None:
    assert generate_stories(50, seed=3) == generate_stories(50, seed=3)
    assert [s.text for s in generate_stories(50, seed=3)] != [s.text for s in generate_stories(50, seed=4)]
    assert len({s.text for s in generate_stories(300, seed=5)}) == 300


def test_deterministic_across_processes() -> None:
    code = (
        "import hashlib; from explorer.demo.corpus import generate_stories as g; "
        "print(hashlib.sha256(repr([(s.text, s.spans) for s in g(200, seed=7)]).encode()).hexdigest())"
    )
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)}
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        )
        digests.add(out.stdout.strip())
    assert digests == {_digest(7)}


def test_every_concept_key_present_and_spans_well_formed(stories: list[LabeledStory]) -> None:
    for s in stories:
        assert tuple(s.spans) == CONCEPTS
        for concept, spans in s.spans.items():
            assert spans == sorted(spans)
            for (_, b), (c, _) in zip(spans, spans[1:], strict=False):
                assert b <= c, (concept, s.text)
            for a, b in spans:
                assert 0 <= a < b <= len(s.text)


def test_span_text_matches_concept(stories: list[LabeledStory]) -> None:
    names = set(GIRL_NAMES) | set(BOY_NAMES)
    for s in stories:
        t = s.text
        for concept, spans in s.spans.items():
            for a, b in spans:
                piece = t[a:b]
                if concept == "quote":
                    assert piece[0] == '"' and piece[-1] == '"' and len(piece) >= 3 and '"' not in piece[1:-1]
                    continue
                # word spans sit on word boundaries
                assert (a == 0 or not t[a - 1].isalpha()) and (b == len(t) or not t[b].isalpha()), piece
                if concept == "name":
                    assert piece in names
                elif concept == "pronoun":
                    assert piece.lower() in PRONOUNS
                else:
                    assert is_lexicon_word(concept, piece), (concept, piece)


def test_spans_are_complete(stories: list[LabeledStory]) -> None:
    """No lexicon word, pronoun, name or quote mark appears in the text without its span."""
    names = set(GIRL_NAMES) | set(BOY_NAMES)
    for s in stories[:500]:
        t = s.text
        for m in re.finditer(r"[A-Za-z]+", t):
            word, pos = m.group(), (m.start(), m.end())
            if word in names:
                assert pos in s.spans["name"], (word, t)
            if word.lower() in PRONOUNS:
                assert pos in s.spans["pronoun"], (word, t)
            for concept in WORD_CONCEPTS:
                if is_lexicon_word(concept, word):
                    assert pos in s.spans[concept], (concept, word, t)
        marks = [i for i, ch in enumerate(t) if ch == '"']
        bounds = sorted(x for a, b in s.spans["quote"] for x in (a, b - 1))
        assert marks == bounds


def test_pronoun_follows_gender_of_introduced_character(stories: list[LabeledStory]) -> None:
    checked = 0
    for s in stories:
        for kind, name, nxt in re.findall(r"\b(girl|boy) named ([A-Z][a-z]+)\. ([A-Za-z]+)", s.text):
            assert (name in GIRL_NAMES) == (kind == "girl"), s.text
            if nxt in ("He", "She", "His", "Her"):
                assert (nxt in ("She", "Her")) == (kind == "girl"), s.text
                checked += 1
    assert checked > 200


_MALE_WORDS = re.compile(
    r"\b(dad|daddy|papa|father|grandpa|grandfather|brother|uncle|son|boy|man|men|king|prince|policeman|"
    r"fireman|wizard|giant|pirate|farmer|sailor|snowman)\b",
    re.IGNORECASE,
)


def test_stories_without_male_characters_use_no_male_pronouns(stories: list[LabeledStory]) -> None:
    """Pronouns follow the cast: a story whose names are all girls' and that names no male person says no he."""
    girl_only = boy_only = wrong = 0
    # Hand-written tales may bring in a man by his job ("the bus driver ... He"): the generated shapes only.
    for s in (s for s in stories if s.shape != "tale"):
        found = {s.text[a:b] for a, b in s.spans["name"]}
        if found and found <= set(GIRL_NAMES) and not _MALE_WORDS.search(s.text):
            girl_only += 1
            wrong += bool(re.search(r"\b(he|him|his)\b", s.text, re.IGNORECASE))
        elif found and found <= set(BOY_NAMES):
            boy_only += 1
    assert girl_only > 50 and boy_only > 100
    # Known flaw: a grammar sentence can refer by pronoun to the story's second character in a shape
    # that never names them (4-6% of these stories, depending on the draw).
    assert wrong < 0.07 * girl_only, (wrong, girl_only)


def test_vocabulary_covers_childrens_stories(stories: list[LabeledStory]) -> None:
    vocab = {w for s in stories for w in re.findall(r"[a-z]+", s.text.lower())}
    assert len(vocab) >= 1500, len(vocab)
    for group in ("family", "body", "food", "weather", "vehicle", "time", "colour", "animal", "number"):
        used = {w for w in LEXICON[group] if w.lower() in vocab}
        share = 0.4 if group == "time" else 0.6  # most weekdays are labelled but rarely said
        assert len(used) >= share * len(LEXICON[group]), (group, set(LEXICON[group]) - used)
    for form in (
        "ran",
        "running",
        "runs",
        "ate",
        "eating",
        "went",
        "climbed",
        "flew",
        "saw",
        "seen",
        "taken",
    ):
        assert form in vocab, form
    for word in ("for", "see", "man", "mother", "sky", "car", "sea", "milk", "climb", "sorry", "because"):
        assert word in vocab, word


def test_story_shapes_and_lengths(stories: list[LabeledStory]) -> None:
    shapes = {s.shape for s in stories}
    assert len(SHAPES) >= 20 and shapes == set(SHAPES)
    openings = {s.text.split(",")[0] for s in stories}
    assert "Once upon a time" in openings
    for s in stories:
        assert 40 <= len(s.text.split()) <= 300, s.text


def test_corpus_has_varied_syntax(stories: list[LabeledStory]) -> None:
    n = len(stories)
    share = lambda pattern: sum(bool(re.search(pattern, s.text)) for s in stories) / n  # noqa: E731
    assert sum(len(s.spans["quote"]) >= 2 for s in stories) > 0.5 * n  # dialogue
    assert share(r'"[^"]*\?"') > 0.25  # questions
    assert share(r"\b(not|n't|never)\b") > 0.4  # negation
    assert share(r"\b([Bb]ecause|so)\b") > 0.3 and share(r", but ") > 0.15 and share(r"\b[Ww]hen\b") > 0.2
    assert share(r"\w+, \w+ and \w+") > 0.1  # lists
    assert share(r"^(My name is|Hi! I am|I am|I have|My|Today,? I)\b") > 0.02  # first person
    assert share(r"\b(wakes|gets|goes|likes|eats) ") > 0.03  # present tense
    assert share(r"\b(One, two, three|one, two, three)") > 0.03  # counting
    assert sum(s.text.endswith("The end.") for s in stories) > 0.05 * n
    for concept in CONCEPTS:
        assert sum(bool(s.spans[concept]) for s in stories) > 0.15 * n, concept
    inside = [s.text[a:b] for s in stories for a, b in s.spans["quote"]]
    for concept in ("colour", "animal", "object", "number", "food"):
        assert any(re.search(r"\b(" + "|".join(LEXICON[concept]) + r")\b", q) for q in inside), concept


def test_names_of_many_origins() -> None:
    names = set(GIRL_NAMES) | set(BOY_NAMES)
    assert len(names) >= 120
    assert {"Priya", "Aisha", "Mei", "Yuki", "Kofi", "Ravi", "Diego", "Omar", "Ingrid", "Kenji"} <= names


def test_handwritten_stories_use_the_corpus_vocabulary() -> None:
    """The generalisation set: 40+ hand-written stories, fewer than 3% of whose words the corpus never uses."""
    handwritten = read_stories()
    assert len(handwritten) >= 40
    share, unseen = unseen_word_share(handwritten, (s.text for s in generate_stories(8000, seed=0)))
    assert share < 0.03, (share, unseen)
    generated = {s.text for s in generate_stories(8000, seed=0)}
    assert not generated & set(handwritten)


def _ws_offsets(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]


def test_token_concept_labels_hand_made() -> None:
    text = 'Lily saw three red cats. "Hi, cat!" she said.'
    spans: dict[str, list[tuple[int, int]]] = {c: [] for c in CONCEPTS}
    spans.update(
        name=[(0, 4)],
        number=[(9, 14)],
        colour=[(15, 18)],
        animal=[(19, 23), (30, 33)],
        quote=[(25, 35)],
        pronoun=[(36, 39)],
    )
    story = LabeledStory(text, spans)
    for sp in spans.values():
        for a, b in sp:
            assert text[a:b] in ("Lily", "three", "red", "cats", "cat", '"Hi, cat!"', "she")
    # BOS (0, 0), whitespace split tokens, plus a whitespace-only token (24, 25) and an empty end token.
    offsets = [(0, 0)] + _ws_offsets(text) + [(24, 25), (len(text), len(text))]
    toks = [text[a:b] for a, b in offsets]
    assert toks[1:10] == ["Lily", "saw", "three", "red", "cats.", '"Hi,', 'cat!"', "she", "said."]
    labels = token_concept_labels(story, offsets)
    assert set(labels) == set(CONCEPTS)
    assert all(len(v) == len(offsets) for v in labels.values())
    f, t = False, True
    #                    BOS Lily saw three red cats. "Hi, cat!" she said. ws  end
    assert labels["name"] == [f, t, f, f, f, f, f, f, f, f, f, f]
    assert labels["number"] == [f, f, f, t, f, f, f, f, f, f, f, f]
    assert labels["colour"] == [f, f, f, f, t, f, f, f, f, f, f, f]
    assert labels["animal"] == [f, f, f, f, f, t, f, t, f, f, f, f]
    assert labels["quote"] == [f, f, f, f, f, f, t, t, f, f, f, f]
    assert labels["pronoun"] == [f, f, f, f, f, f, f, f, t, f, f, f]
    for concept in ("place", "feeling", "object"):
        assert labels[concept] == [f] * len(offsets)
    # a whitespace-only token inside a quote is still False
    inner = token_concept_labels(story, [(29, 30), (26, 28)])
    assert inner["quote"] == [False, True]


def test_token_concept_labels_match_words_of_generated_stories(stories: list[LabeledStory]) -> None:
    for s in stories[:200]:
        offsets = [(0, 0)] + _ws_offsets(s.text)
        labels = token_concept_labels(s, offsets)
        assert not any(labels[c][0] for c in CONCEPTS)
        for i, (a, b) in enumerate(offsets[1:], start=1):
            words = re.findall(r"[A-Za-z]+", s.text[a:b])  # "o'clock" holds "clock"
            for concept in WORD_CONCEPTS:
                assert labels[concept][i] == any(is_lexicon_word(concept, w) for w in words), (concept, words)
            assert labels["pronoun"][i] == any(w.lower() in PRONOUNS for w in words)
            assert labels["name"][i] == any(w in GIRL_NAMES or w in BOY_NAMES for w in words)
