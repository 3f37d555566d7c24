"""Parse the one-string description of an SAE to load.

Forms (each fits a URL, a CLI flag and a text box):
- `demo` or `demo:NAME`: an SAE of the embedded demo bundle;
- a local directory: saved by SAE-Lens (`save_model`), or just `cfg.json` + `sae_weights.safetensors`;
- `RELEASE:SAE_ID` (or `pretrained:RELEASE:SAE_ID`): an SAE-Lens pretrained release, e.g.
  `gpt2-small-res-jb:blocks.8.hook_resid_pre`;
- `run:ID`: the SAE written by a finished training run.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from explorer.bundle import read_manifest
from explorer.errors import ExplorerError
from explorer.paths import check_path_allowed, runs_dir

SourceKind = Literal["demo", "path", "pretrained", "run"]
RUN_SAE_SUBDIR = "sae"  # a run's final SAE, in SAE-Lens layout: runs/<ID>/sae/
RUN_CHECKPOINTS_SUBDIR = "checkpoints"  # SAE-Lens' checkpoints: runs/<ID>/checkpoints/<random id>/<tokens>/


@dataclass(frozen=True)
class SaeSource:
    """A parsed SAE source: its kind, the string it came from, and the parts that locate it."""

    kind: SourceKind
    text: str
    name: str  # demo SAE name | local path | release | run id
    sae_id: str | None = None  # pretrained releases only

    def local_dir(self) -> Path | None:
        """The directory to read from for demo, path and run sources (None for pretrained)."""
        if self.kind == "demo":
            return read_manifest().sae_dir(self.name)
        if self.kind == "path":
            return Path(self.name).expanduser()
        if self.kind == "run":
            return runs_dir() / self.name / RUN_SAE_SUBDIR
        return None


def latest_run_checkpoint(run_dir: Path) -> Path | None:
    """The newest checkpoint folder of a run holding SAE weights and trainer state, if any."""
    candidates = [
        p
        for p in (run_dir / RUN_CHECKPOINTS_SUBDIR).glob("*/*")
        if (p / "sae_weights.safetensors").is_file() and (p / "trainer_state.pt").is_file()
    ]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


@cache
def pretrained_directory() -> dict[str, Any]:
    """SAE-Lens' own directory of pretrained releases (read offline from the installed package)."""
    from sae_lens.loading.pretrained_saes_directory import get_pretrained_saes_directory

    return dict(get_pretrained_saes_directory())


def list_pretrained_releases() -> dict[str, list[str]]:
    """Release name -> its SAE ids, as SAE-Lens lists them."""
    return {name: list(release.saes_map) for name, release in pretrained_directory().items()}


def parse_sae_source(text: str) -> SaeSource:
    """Turn a source string into a `SaeSource`, or raise `ExplorerError` saying what is wrong."""
    text = text.strip()
    if not text:
        raise ExplorerError("No SAE source given.", hint="Try `demo`, a local directory, or RELEASE:SAE_ID.")
    if text == "demo" or text.startswith("demo:"):
        manifest = read_manifest()
        name = text.partition(":")[2] or manifest.default_sae
        if name not in manifest.sae_names:
            raise ExplorerError(
                f"Unknown demo SAE '{name}'.", hint=f"The demo SAEs are: {', '.join(manifest.sae_names)}."
            )
        return SaeSource("demo", text, name)
    if text.startswith("run:"):
        run_id = text[len("run:") :]
        if not run_id or "/" in run_id or run_id.startswith("."):
            raise ExplorerError(f"'{run_id}' is not a valid run id.")
        return SaeSource("run", text, run_id)
    looks_like_path = text.startswith(("/", "./", "../", "~")) or Path(text).expanduser().exists()
    if not looks_like_path and ":" in text:
        release, _, sae_id = text.removeprefix("pretrained:").partition(":")
        return _pretrained_source(text, release, sae_id)
    path = check_path_allowed(text)
    if not path.exists():
        raise ExplorerError(f"The path '{text}' does not exist.")
    if not path.is_dir():
        raise ExplorerError(f"'{text}' is a file; an SAE source must be a directory holding cfg.json.")
    return SaeSource("path", text, str(path))


def _pretrained_source(text: str, release: str, sae_id: str) -> SaeSource:
    releases = pretrained_directory()
    if release not in releases:
        raise ExplorerError(
            f"'{release}' is not an SAE-Lens pretrained release.",
            hint="See `python -m explorer releases` for the list, or give a local directory or `demo`.",
        )
    ids = list(releases[release].saes_map)
    if sae_id not in ids:
        shown = ", ".join(ids[:8]) + (", ..." if len(ids) > 8 else "")
        raise ExplorerError(f"'{sae_id}' is not an SAE id of release '{release}'.", hint=f"Its ids: {shown}.")
    return SaeSource("pretrained", text, release, sae_id)
