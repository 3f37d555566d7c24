"""Dataset sources for metrics and feature statistics, tokenized the way SAE-Lens trains.

A dataset source is one string: `demo` (the bundle's held-out split), a local file (`.txt` with one
document per line, `.jsonl`/`.json`, `.parquet`, `.csv`), a directory saved with
`Dataset.save_to_disk`, or a Hugging Face Hub dataset name (when the hub is reachable).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeAlias

import datasets
import torch
from sae_lens.tokenization_and_batching import concat_and_batch_sequences

from explorer import bundle
from explorer.errors import ExplorerError
from explorer.hub import HUB_OFFLINE_HINT, hub_errors, hub_reachable
from explorer.loading import Explorer
from explorer.paths import check_path_allowed

TEXT_COLUMNS = ("text", "content", "story", "document")
TOKEN_COLUMNS = ("input_ids", "tokens")
FILE_LOADERS = {".txt": "text", ".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
DatasetLike: TypeAlias = datasets.Dataset | datasets.IterableDataset


def open_dataset(source: str | None) -> DatasetLike:
    """Open a dataset source (see the module docstring); `None` or `demo` is the demo held-out split."""
    if source is None or source.strip() in ("", "demo"):
        return datasets.Dataset.from_parquet(str(bundle.dataset_path()))
    source = source.strip()
    path = Path(source).expanduser()
    if path.exists() or source.startswith(("/", "./", "../", "~")) or path.suffix in FILE_LOADERS:
        check_path_allowed(path)
    if path.is_dir():
        try:
            loaded = datasets.load_from_disk(str(path))
        except (FileNotFoundError, ValueError) as error:
            raise ExplorerError(
                f"'{source}' is not a dataset saved with Dataset.save_to_disk: {error}"
            ) from None
        return loaded["train"] if isinstance(loaded, datasets.DatasetDict) else loaded
    if path.is_file() or path.is_symlink():
        check_regular_file(path, "dataset file")
        return _open_file(path)
    if source.startswith(("/", "./", "../", "~")) or path.suffix in FILE_LOADERS:
        raise ExplorerError(f"The dataset path '{source}' does not exist.")
    return _open_hub(source)


def check_regular_file(path: Path, what: str = "text file") -> None:
    """A one-line error unless `path` is a readable regular file (missing, symlink loop or dangling, directory)."""
    try:
        path.resolve(strict=True)
    except RuntimeError:  # Python < 3.13 reports a symlink loop this way
        raise ExplorerError(f"The {what} '{path}' is a symlink loop.") from None
    except FileNotFoundError:
        if path.is_symlink():
            raise ExplorerError(f"The {what} '{path}' is a symlink to a missing file.") from None
        raise ExplorerError(f"The {what} '{path}' does not exist.") from None
    except OSError as error:
        if "loop" in str(error).lower() or getattr(error, "errno", None) == 40:
            raise ExplorerError(f"The {what} '{path}' is a symlink loop.") from None
        raise ExplorerError(f"The {what} '{path}' cannot be opened: {error.strerror or error}.") from None
    if path.is_dir():
        raise ExplorerError(f"'{path}' is a directory, not a {what}.")
    if not path.is_file():
        raise ExplorerError(f"'{path}' is not a regular file.")


def read_text_file(path: str | Path) -> str:
    """A file's text as UTF-8; a one-line error for a missing path, a directory, a symlink loop, or binary data."""
    path = check_path_allowed(path)
    check_regular_file(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ExplorerError(f"The text file '{path}' cannot be read: {error.strerror or error}.") from None
    if b"\x00" in data:
        raise ExplorerError(f"'{path}' is not text: it holds NUL bytes (a binary file?).")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ExplorerError(f"'{path}' is not UTF-8 text (invalid byte at offset {error.start}).") from None


def text_file_dataset(path: str | Path) -> datasets.Dataset:
    """A plain text file as a dataset: one document per non-empty line."""
    lines = [line.strip() for line in read_text_file(path).splitlines() if line.strip()]
    if not lines:
        raise ExplorerError(f"The text file '{path}' has no text.")
    return datasets.Dataset.from_dict({"text": lines})


def _open_file(path: Path) -> datasets.Dataset:
    kind = FILE_LOADERS.get(path.suffix.lower())
    if kind is None:
        raise ExplorerError(
            f"'{path}' is not a dataset file I can read.", hint=f"Use one of {', '.join(FILE_LOADERS)}."
        )
    if kind == "text":
        return text_file_dataset(path)
    try:
        loaded = datasets.load_dataset(kind, data_files=str(path), split="train")
    except Exception as error:  # datasets raises many types for unreadable files
        raise ExplorerError(f"Could not read '{path}' as {kind}: {error}") from None
    assert isinstance(loaded, datasets.Dataset)
    return loaded


def _open_hub(name: str) -> DatasetLike:
    hint = (
        "Use `demo`, a local file (.txt, .jsonl, .parquet, .csv) or a saved dataset directory. "
        + HUB_OFFLINE_HINT
    )
    with hub_errors(f"dataset '{name}'", hint=hint):
        return datasets.load_dataset(name, split="train", streaming=hub_reachable())


def dataset_column(dataset: DatasetLike) -> tuple[str, bool]:
    """The column to read and whether it already holds token ids; an error if there is none."""
    features = dataset.features or {}
    names = list(features)
    for name in TOKEN_COLUMNS:
        if name in names:
            return name, True
    for name in TEXT_COLUMNS:
        if name in names:
            return name, False
    for name in names:
        if getattr(features[name], "dtype", None) == "string":
            return name, False
    raise ExplorerError(
        f"The dataset has no text column (columns: {', '.join(names) or 'none'}).",
        hint=f"Name the text column one of: {', '.join(TEXT_COLUMNS)}, or give token ids as input_ids.",
    )


def token_rows(
    dataset: DatasetLike, tokenizer: Any, context_size: int, prepend_bos: bool, n_rows: int
) -> torch.Tensor:
    """The first `n_rows` rows [n, context_size] of the dataset tokenized as SAE-Lens' ActivationsStore does.

    Documents are tokenized, concatenated with BOS separators and cut into rows that start with
    BOS (when `prepend_bos`), via SAE-Lens' own `concat_and_batch_sequences`.
    """
    if n_rows <= 0 or context_size <= 1:
        raise ExplorerError(
            f"Need a positive number of prompts and a context of at least 2, got {n_rows}, {context_size}."
        )
    column, pretokenized = dataset_column(dataset)
    bos = tokenizer.bos_token_id if prepend_bos else None

    def documents() -> Iterator[torch.Tensor]:
        for row in dataset:
            value = row[column]
            if pretokenized:
                yield torch.as_tensor(value, dtype=torch.long)
            elif isinstance(value, str) and value.strip():
                yield torch.tensor(tokenizer(value, add_special_tokens=False)["input_ids"], dtype=torch.long)

    rows = []
    for row in concat_and_batch_sequences(
        documents(), context_size, begin_batch_token_id=bos, sequence_separator_token_id=bos
    ):
        rows.append(row)
        if len(rows) == n_rows:
            break
    if not rows:
        raise ExplorerError(f"The dataset has too little text for one row of {context_size} tokens.")
    return torch.stack(rows)


def sae_context_size(explorer: Explorer, requested: int | None = None) -> int:
    """The context to sample with: `requested`, else the SAE's metadata `context_size` (else 128), within the model's."""
    return min(requested or explorer.sae.metadata.context_size or 128, explorer.model.cfg.n_ctx)


def sample_prompts(
    explorer: Explorer, dataset: str | None, n_prompts: int, context_size: int | None = None
) -> torch.Tensor:
    """Rows [n_prompts, ctx] of a dataset source (`file:PATH` for a text file), with the SAE's context size
    and prepend_bos, tokenized as SAE-Lens trains."""
    if dataset is not None and dataset.startswith("file:"):
        source = text_file_dataset(dataset[len("file:") :])
    else:
        source = open_dataset(dataset)
    prepend = explorer.sae.metadata.prepend_bos
    return token_rows(source, explorer.model.tokenizer, sae_context_size(explorer, context_size),
                      True if prepend is None else bool(prepend), n_prompts)  # fmt: skip
