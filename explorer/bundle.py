"""The embedded demo bundle: where its parts live and how to read its manifest.

The bundle (tokenizer, model, SAEs, held-out dataset, quality figures) is committed under
`explorer/demo/bundle/` and rebuilt by `python -m explorer.demo.build`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from explorer.errors import ExplorerError
from explorer.paths import BUNDLE_DIR

DEMO_MODEL_NAME = "demo-stories-2l"
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class DemoManifest:
    """What the bundle holds: the model name, the SAEs by name, the default SAE, the dataset file."""

    model_name: str
    sae_names: tuple[str, ...]
    default_sae: str
    dataset_file: str

    def sae_dir(self, name: str) -> Path:
        """The SAE-Lens directory of the demo SAE called `name`."""
        return BUNDLE_DIR / "saes" / name


@cache
def read_manifest() -> DemoManifest:
    """Read the bundle's manifest; a clear error when the bundle has not been built."""
    path = BUNDLE_DIR / MANIFEST_FILE
    if not path.is_file():
        raise ExplorerError(
            f"The demo bundle is missing ({path} not found).",
            hint="Rebuild it with `python -m explorer.demo.build`.",
        )
    data = json.loads(path.read_text())
    return DemoManifest(
        model_name=data["model_name"],
        sae_names=tuple(data["saes"]),
        default_sae=data["default_sae"],
        dataset_file=data["dataset_file"],
    )


def model_dir() -> Path:
    """The demo model's directory (HookedTransformerConfig JSON + safetensors)."""
    return BUNDLE_DIR / "model"


def tokenizer_dir() -> Path:
    """The demo tokenizer's directory (Hugging Face format)."""
    return BUNDLE_DIR / "tokenizer"


def dataset_path() -> Path:
    """The held-out split of the demo corpus (parquet: `text`, `spans`)."""
    return BUNDLE_DIR / read_manifest().dataset_file
