"""Source strings parse into the right kind, and bad ones say what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from explorer.bundle import read_manifest
from explorer.errors import ExplorerError
from explorer.sources import list_pretrained_releases, parse_sae_source


def test_demo_forms() -> None:
    manifest = read_manifest()
    assert parse_sae_source("demo").name == manifest.default_sae
    for name in manifest.sae_names:
        source = parse_sae_source(f"demo:{name}")
        assert (source.kind, source.name) == ("demo", name)
    with pytest.raises(ExplorerError, match="Unknown demo SAE 'nope'"):
        parse_sae_source("demo:nope")


def test_pretrained_forms() -> None:
    for text in (
        "gpt2-small-res-jb:blocks.8.hook_resid_pre",
        "pretrained:gpt2-small-res-jb:blocks.8.hook_resid_pre",
    ):
        source = parse_sae_source(text)
        assert (source.kind, source.name, source.sae_id) == (
            "pretrained",
            "gpt2-small-res-jb",
            "blocks.8.hook_resid_pre",
        )
    with pytest.raises(ExplorerError, match="not an SAE-Lens pretrained release"):
        parse_sae_source("no-such-release:blocks.0")
    with pytest.raises(ExplorerError, match="not an SAE id of release"):
        parse_sae_source("gpt2-small-res-jb:blocks.99.hook_resid_pre")


def test_releases_come_from_sae_lens_directory() -> None:
    from sae_lens.loading.pretrained_saes_directory import get_pretrained_saes_directory

    releases = list_pretrained_releases()
    assert set(releases) == set(get_pretrained_saes_directory())
    assert "blocks.8.hook_resid_pre" in releases["gpt2-small-res-jb"]


def test_path_and_run_forms(tmp_path: Path) -> None:
    assert parse_sae_source(str(tmp_path)).kind == "path"
    assert parse_sae_source("run:abc123").name == "abc123"
    with pytest.raises(ExplorerError, match="not a valid run id"):
        parse_sae_source("run:../etc")
    with pytest.raises(ExplorerError, match="does not exist"):
        parse_sae_source("./missing-dir")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ExplorerError, match="is a file"):
        parse_sae_source(str(tmp_path / "file.txt"))
    with pytest.raises(ExplorerError, match="No SAE source"):
        parse_sae_source("  ")
