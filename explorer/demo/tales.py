"""Hand-written story templates ("tales") for the demo corpus, and their renderer.

The grammar in `explorer.demo.grammar` gives the corpus varied syntax; the tales give it what a grammar
cannot: the collocations of real children's stories ("gave it back", "at the top", "Lily's mom"). Each
file in ``explorer/demo/tales/`` holds stories separated by lines holding only ``---``; lines starting
with ``#`` are comments and a blank line starts a new paragraph. A tale is written in the corpus'
slot mini-language (``{A}``, ``{A.he}``, ``{pet}``, ``{~food|np}``, see `explorer.demo.corpus`) plus
alternatives: ``[the cat|a small cat|the cat]`` picks one option (an empty option makes it optional);
alternatives may hold slots but do not nest.

    python -m explorer.demo.tales explorer/demo/tales/*.txt   # check files, print a rendered sample
"""

from __future__ import annotations

import functools
import random
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

TALES_DIR = Path(__file__).with_name("tales")
_ALTERNATIVES = re.compile(r"\[([^\[\]]*)\]")
_SLOT = re.compile(r"\{([^{}]+)\}")
_NESTED = re.compile(r"\[[^\]]*\[")
_OPTION_BAR = re.compile(r"\|(?![^{}]*\})")  # a "|" outside slots: {food|np} stays whole


def parse_tales(text: str) -> list[str]:
    """The tale templates of one file's text, in order (paragraphs kept as blank lines)."""
    lines = [line.rstrip() for line in text.splitlines() if not line.lstrip().startswith("#")]
    chunks = re.split(r"^---$", "\n".join(lines), flags=re.M)
    return [re.sub(r"\n{3,}", "\n\n", chunk).strip() for chunk in chunks if chunk.strip()]


@functools.cache
def load_tales(directory: Path = TALES_DIR) -> tuple[str, ...]:
    """Every tale template of every ``*.txt`` file in ``directory`` (files in name order)."""
    return tuple(t for path in sorted(directory.glob("*.txt")) for t in parse_tales(path.read_text("utf-8")))


def render_tale(template: str, rng: random.Random, fill_slot: Callable[[str], str]) -> list[str]:
    """The tale's paragraphs: alternatives chosen with ``rng``, then ``{slots}`` filled by ``fill_slot``."""
    chosen = _ALTERNATIVES.sub(lambda m: rng.choice(_OPTION_BAR.split(m.group(1))), template)
    paragraphs = []
    for paragraph in re.split(r"\n\s*\n", chosen):
        text = " ".join(paragraph.split())
        text = _SLOT.sub(lambda m: fill_slot(m.group(1)), text)
        text = re.sub(r" +([,.!?])", r"\1", text).strip()
        if text:
            paragraphs.append(text[0].upper() + text[1:])
    return paragraphs


def check_files(paths: Sequence[Path], samples: int = 1) -> int:
    """Render every tale of ``paths`` with several seeds; print problems and a sample. Returns the problem count."""
    from explorer.demo.corpus import render_tale_story

    problems = 0
    for path in paths:
        tales = parse_tales(path.read_text("utf-8"))
        words: set[str] = set()
        for index, template in enumerate(tales):
            if template.count("[") != template.count("]") or template.count("{") != template.count("}"):
                print(f"{path.name} tale {index + 1}: unbalanced brackets")
                problems += 1
                continue
            if _NESTED.search(template):
                print(f"{path.name} tale {index + 1}: nested alternatives")
                problems += 1
                continue
            for seed in range(20):
                try:
                    story = render_tale_story(template, random.Random(seed))
                except (KeyError, IndexError, ValueError) as error:
                    print(f"{path.name} tale {index + 1}: bad slot {error}")
                    problems += 1
                    break
                words.update(re.findall(r"[a-z]+", story.text.lower()))
                if seed < samples:
                    print(f"--- {path.name} tale {index + 1}\n{story.text}\n")
        print(f"{path.name}: {len(tales)} tales, {len(words)} distinct words")
    return problems


if __name__ == "__main__":
    sys.exit(1 if check_files([Path(p) for p in sys.argv[1:]]) else 0)
