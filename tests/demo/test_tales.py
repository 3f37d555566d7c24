"""Tests for the hand-written tale templates of the demo corpus and their renderer."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from explorer.demo.corpus import generate_stories, render_tale_story
from explorer.demo.generalisation import read_stories, words
from explorer.demo.tales import check_files, load_tales, parse_tales, render_tale

_SYNTAX = re.compile(r"[\[\]{}|]")


def _fill(key: str) -> str:
    return f"<{key}>"


def test_parse_tales_splits_files_keeps_paragraphs_and_drops_comments() -> None:
    text = "# theme\n---\nOne.\n\n\n\nTwo.\n# a note\n---\n\n---\nThree.\n"
    assert parse_tales(text) == ["One.\n\nTwo.", "Three."]


def test_render_tale_alternatives_slots_and_paragraphs() -> None:
    template = "[a {food|np}|{pet|s} and {A}] ate[ quickly|].\n\n{A.He} [smiled|laughed] ."
    seen = set()
    for seed in range(60):
        first, second = render_tale(template, random.Random(seed), _fill)
        assert first in {"A <food|np> ate.", "A <food|np> ate quickly.", "<pet|s> and <A> ate.",
                         "<pet|s> and <A> ate quickly."}  # fmt: skip
        assert second in {"<A.He> smiled.", "<A.He> laughed."}
        seen.add((first, second))
    assert len(seen) == 8  # every combination occurs


def test_rendered_tale_fills_the_cast_consistently() -> None:
    template = '{A} had {food|np}. {A.He} gave the {food} to {B}. {B} said, "Thanks, {A}!"'
    for seed in range(30):
        story = render_tale_story(template, random.Random(seed))
        hero = story.text.split(" had ")[0]
        food = re.search(r"gave the (\w+) to", story.text).group(1)  # type: ignore[union-attr]
        assert f"had a{'n' if food[0] in 'aeiou' else ''} {food}." in story.text
        assert story.text.endswith(f'"Thanks, {hero}!"')
        assert story.spans["name"] and story.spans["quote"]


def test_check_files_reports_each_kind_of_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.txt"
    good.write_text("---\n{A} saw a {col} {~animal}. [It ran.|It hid.]\n")
    assert check_files([good]) == 0
    bad = tmp_path / "bad.txt"
    bad.write_text("---\n{A} saw [a [red|blue] ball|a cat].\n---\n{A} saw {nobody}.\n---\n{A} saw [a cat.\n")
    assert check_files([bad]) == 3
    out = capsys.readouterr().out
    assert "nested alternatives" in out and "bad slot" in out and "unbalanced brackets" in out


def test_every_tale_renders_to_clean_text() -> None:
    tales = load_tales()
    assert len(tales) >= 300
    for index, template in enumerate(tales):
        for seed in range(5):
            story = render_tale_story(template, random.Random(seed))
            assert not _SYNTAX.search(story.text), (index, story.text)
            assert 40 <= len(story.text.split()) <= 300, (index, story.text)


def test_tales_are_a_large_share_of_the_corpus() -> None:
    stories = generate_stories(1000, seed=1)
    share = sum(s.shape == "tale" for s in stories) / len(stories)
    assert 0.55 < share < 0.75


def test_handwritten_stories_are_not_copied_into_the_tales() -> None:
    """The generalisation check stays independent: no 12-word run of a hand-written story is in a tale."""

    def runs(text: str, n: int = 12) -> set[tuple[str, ...]]:
        ws = words(text)
        return {tuple(ws[i : i + n]) for i in range(len(ws) - n + 1)}

    handwritten = set().union(*(runs(s) for s in read_stories()))
    for template in load_tales():
        for seed in range(3):
            assert not runs(render_tale_story(template, random.Random(seed)).text) & handwritten


def test_narration_often_calls_the_parent_her_mom_while_dialogue_keeps_mom() -> None:
    """Half the stories say "her mom" / "Lily's mom" in the narration, as real stories do; quotes keep "Mom"."""
    template = '{P} smiled at {A}. "{P}, look!" said {A}. {A} gave {P} a hug, and {P} laughed.'
    changed = 0
    for seed in range(60):
        text = render_tale_story(template, random.Random(seed)).text
        quoted = re.findall(r'"([^"]*)"', text)
        narration = re.sub(r'"[^"]*"', "", text)
        parent = quoted[0].split(",")[0]
        assert parent in ("Mom", "Dad", "Grandma", "Grandpa", "Mommy", "Daddy"), (
            text
        )  # dialogue keeps the name
        if parent in narration:
            assert narration.count(parent) == 3, text  # a story changes all of its narration or none
            continue
        changed += 1
        nouns = {"M": "(?:mom|mother)", "D": "(?:dad|father)", "G": parent.lower()}
        noun = nouns[parent[0]]
        assert re.match(rf"(?:Her|His|[A-Z][a-z]+'s) {noun} smiled", text), (
            text
        )  # capitalised: sentence start
        assert len(re.findall(rf"\b(?:[Hh]er|[Hh]is|[A-Z][a-z]+'s) {noun}\b", narration)) == 3, text
    assert 15 <= changed <= 45, changed
