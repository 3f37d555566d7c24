"""What users write about features, in one SQLite file: labels, notes, and lists of features.

Everything is keyed by the SAE's identity: the hash of its weights (the one the statistics cache uses),
so a label follows the SAE wherever it is loaded from; the source it was last seen under is kept for
display. The file is `SAE_EXPLORER_STORE`, else `explorer.sqlite3` in the cache folder.

Each call opens its own connection (Streamlit serves sessions from several threads) in WAL mode with
a busy timeout, and every write is one transaction (`BEGIN IMMEDIATE`): several browser sessions can
write at once, and a crash mid-write leaves the previous state. The schema is versioned with
`PRAGMA user_version`; `MIGRATIONS[i]` takes version i to i + 1, applied in order on opening.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from explorer.errors import ExplorerError
from explorer.paths import cache_dir

STORE_ENV = "SAE_EXPLORER_STORE"
LabelKind = Literal["user", "imported", "llm", "auto"]
LABEL_KINDS: tuple[LabelKind, ...] = ("user", "imported", "llm", "auto")  # the first present wins
MAX_LABEL = 200  # characters
MAX_NOTE = 20_000

MIGRATIONS: list[str] = [
    # 0 -> 1
    """
    CREATE TABLE saes (
        sae_hash TEXT PRIMARY KEY, source TEXT NOT NULL, model TEXT, hook TEXT, d_sae INTEGER, seen REAL NOT NULL
    );
    CREATE TABLE labels (
        sae_hash TEXT NOT NULL, feature INTEGER NOT NULL, kind TEXT NOT NULL, label TEXT NOT NULL,
        updated REAL NOT NULL, PRIMARY KEY (sae_hash, feature, kind)
    );
    CREATE TABLE notes (
        sae_hash TEXT NOT NULL, feature INTEGER NOT NULL, note TEXT NOT NULL, updated REAL NOT NULL,
        PRIMARY KEY (sae_hash, feature)
    );
    CREATE TABLE lists (
        id INTEGER PRIMARY KEY, sae_hash TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '',
        created REAL NOT NULL, updated REAL NOT NULL, UNIQUE (sae_hash, name)
    );
    CREATE TABLE list_items (
        list_id INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE, position INTEGER NOT NULL,
        feature INTEGER NOT NULL, note TEXT NOT NULL DEFAULT '', PRIMARY KEY (list_id, feature)
    );
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def store_path() -> Path:
    """Where the store lives: `SAE_EXPLORER_STORE`, else `explorer.sqlite3` in the cache folder."""
    configured = os.environ.get(STORE_ENV)
    return Path(configured).expanduser() if configured else cache_dir() / "explorer.sqlite3"


def _migrate(connection: sqlite3.Connection) -> None:
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise ExplorerError(
            f"The store {store_path()} has schema version {version}, newer than this app's ({SCHEMA_VERSION}).",
            hint=f"Update the app, or point {STORE_ENV} at another file.",
        )
    while version < SCHEMA_VERSION:
        connection.execute("BEGIN IMMEDIATE")
        try:  # re-read under the write lock: another process may have migrated meanwhile
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version < SCHEMA_VERSION:
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        connection.execute(statement)
                version += 1
                connection.execute(f"PRAGMA user_version = {version}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise


@contextmanager
def connect(path: Path | None = None) -> Iterator[sqlite3.Connection]:
    """A connection to the store (created and migrated if needed), closed on exit."""
    path = path or store_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, timeout=30, isolation_level=None)  # transactions are explicit
    except (OSError, sqlite3.Error) as error:
        raise ExplorerError(
            f"Cannot open the store {path}: {error}.", hint=f"Set {STORE_ENV} to a writable file."
        ) from None
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute("PRAGMA busy_timeout=30000")
        _migrate(connection)
        yield connection
    except sqlite3.DatabaseError as error:
        raise ExplorerError(
            f"The store {path} cannot be used: {error}.", hint=f"Set {STORE_ENV} to another file."
        ) from None
    finally:
        connection.close()


@contextmanager
def transaction(path: Path | None = None) -> Iterator[sqlite3.Connection]:
    """One write transaction: everything in the block is committed together, or nothing is."""
    with connect(path) as connection:
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")


@dataclass(frozen=True)
class SaeIdentity:
    """Which SAE a label belongs to: its weights hash, and where it was loaded from (for display)."""

    sae_hash: str
    source: str
    model: str = ""
    hook: str = ""
    d_sae: int = 0


@dataclass(frozen=True)
class Label:
    """A feature's label and where it came from (`user` wins over `imported`, `llm` and `auto`)."""

    feature: int
    text: str
    kind: LabelKind


@dataclass(frozen=True)
class FeatureList:
    """A named, ordered list of features of one SAE."""

    id: int
    name: str
    description: str
    features: list[int]
    notes: list[str]


def _check_feature(sae: SaeIdentity, feature: int) -> int:
    if not isinstance(feature, int) or feature < 0 or (sae.d_sae and feature >= sae.d_sae):
        raise ExplorerError(f"Feature {feature} is not a feature of this SAE (0–{sae.d_sae - 1}).")
    return feature


def _remember(connection: sqlite3.Connection, sae: SaeIdentity) -> None:
    connection.execute(
        "INSERT INTO saes VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(sae_hash) DO UPDATE SET source = excluded.source, "
        "model = excluded.model, hook = excluded.hook, d_sae = excluded.d_sae, seen = excluded.seen",
        (sae.sae_hash, sae.source, sae.model, sae.hook, sae.d_sae, time.time()),
    )


def set_label(sae: SaeIdentity, feature: int, text: str, kind: LabelKind = "user") -> None:
    """Set (or, with empty text, remove) a feature's label of one kind."""
    _check_feature(sae, feature)
    text = " ".join(text.split())
    if len(text) > MAX_LABEL:
        raise ExplorerError(f"The label is {len(text)} characters long; keep it to {MAX_LABEL}.")
    with transaction() as connection:
        _remember(connection, sae)
        if text:
            connection.execute(
                "INSERT OR REPLACE INTO labels VALUES (?, ?, ?, ?, ?)",
                (sae.sae_hash, feature, kind, text, time.time()),
            )
        else:
            connection.execute(
                "DELETE FROM labels WHERE sae_hash = ? AND feature = ? AND kind = ?",
                (sae.sae_hash, feature, kind),
            )


def set_labels(
    sae: SaeIdentity, labels: Iterable[tuple[int, str]], kind: LabelKind, replace: bool = False
) -> int:
    """Write many labels of one kind in one transaction (with `replace`, that kind's old labels go first)."""
    now = time.time()
    rows = [
        (sae.sae_hash, _check_feature(sae, int(f)), kind, " ".join(t.split())[:MAX_LABEL], now)
        for f, t in labels
    ]
    rows = [r for r in rows if r[3]]
    with transaction() as connection:
        _remember(connection, sae)
        if replace:
            connection.execute("DELETE FROM labels WHERE sae_hash = ? AND kind = ?", (sae.sae_hash, kind))
        connection.executemany("INSERT OR REPLACE INTO labels VALUES (?, ?, ?, ?, ?)", rows)
    return len(rows)


def count_labels(sae: SaeIdentity, kind: LabelKind) -> int:
    """How many features have a label of this kind."""
    with connect() as connection:
        return connection.execute(
            "SELECT COUNT(*) FROM labels WHERE sae_hash = ? AND kind = ?", (sae.sae_hash, kind)
        ).fetchone()[0]


def labels_for(sae: SaeIdentity, features: Sequence[int] | None = None) -> dict[int, Label]:
    """Each feature's winning label (user, then imported, llm, auto), for `features` or for all."""
    rank = {kind: i for i, kind in enumerate(LABEL_KINDS)}
    query = "SELECT feature, kind, label FROM labels WHERE sae_hash = ?"
    params: list[object] = [sae.sae_hash]
    wanted = sorted({int(f) for f in features}) if features is not None else None
    if wanted is not None:
        if not wanted:
            return {}
        if len(wanted) <= 900:  # SQLite's parameter limit
            query += f" AND feature IN ({','.join('?' * len(wanted))})"
            params += wanted
    best: dict[int, Label] = {}
    with connect() as connection:
        for feature, kind, text in connection.execute(query, params):
            current = best.get(feature)
            if current is None or rank.get(kind, 99) < rank.get(current.kind, 99):
                best[feature] = Label(feature, text, kind)
    if wanted is not None and len(wanted) > 900:
        best = {f: best[f] for f in wanted if f in best}
    return best


def label_kinds(sae: SaeIdentity, feature: int) -> dict[LabelKind, str]:
    """Every label one feature has, by kind."""
    with connect() as connection:
        rows = connection.execute(
            "SELECT kind, label FROM labels WHERE sae_hash = ? AND feature = ?", (sae.sae_hash, feature)
        ).fetchall()
    return {kind: text for kind, text in rows}


def set_note(sae: SaeIdentity, feature: int, note: str) -> None:
    """Set (or, with empty text, remove) a feature's note."""
    _check_feature(sae, feature)
    if len(note) > MAX_NOTE:
        raise ExplorerError(f"The note is {len(note):,} characters long; keep it to {MAX_NOTE:,}.")
    with transaction() as connection:
        _remember(connection, sae)
        if note.strip():
            connection.execute(
                "INSERT OR REPLACE INTO notes VALUES (?, ?, ?, ?)", (sae.sae_hash, feature, note, time.time())
            )
        else:
            connection.execute(
                "DELETE FROM notes WHERE sae_hash = ? AND feature = ?", (sae.sae_hash, feature)
            )


def note_for(sae: SaeIdentity, feature: int) -> str:
    """A feature's note ('' when it has none)."""
    with connect() as connection:
        row = connection.execute(
            "SELECT note FROM notes WHERE sae_hash = ? AND feature = ?", (sae.sae_hash, feature)
        ).fetchone()
    return row[0] if row else ""


@dataclass(frozen=True)
class SearchHit:
    """A feature whose label or note matches a search, with the matching text and where it was found."""

    feature: int
    label: str  # the feature's winning label ('' when it has none)
    matched: str
    field: str  # "user label", "auto label", ..., or "note"


def search(sae: SaeIdentity, text: str, limit: int = 50) -> list[SearchHit]:
    """Features of this SAE whose labels (any kind) or notes contain `text` (case-insensitive), user labels first."""
    needle = text.strip()
    if not needle:
        raise ExplorerError("Type some text to search for.")
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    with connect() as connection:
        rows = connection.execute(
            "SELECT feature, label, kind || ' label' FROM labels WHERE sae_hash = ? AND label LIKE ? ESCAPE '\\' "
            "UNION ALL SELECT feature, note, 'note' FROM notes WHERE sae_hash = ? AND note LIKE ? ESCAPE '\\'",
            (sae.sae_hash, pattern, sae.sae_hash, pattern),
        ).fetchall()
    seen: dict[int, tuple[str, str]] = {}
    for feature, matched, where in rows:
        best = seen.get(feature)
        if best is None or _field_rank(where) < _field_rank(best[1]):
            seen[feature] = (matched, where)
    labels = labels_for(sae, list(seen))
    hits = [SearchHit(f, labels[f].text if f in labels else "", m, w) for f, (m, w) in seen.items()]
    hits.sort(key=lambda h: (_field_rank(h.field), h.feature))
    return hits[:limit]


def _field_rank(field: str) -> int:
    kinds = [f"{k} label" for k in LABEL_KINDS]
    return kinds.index(field) if field in kinds else len(kinds)


# ----------------------------------------------------------------------------- lists


def _check_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise ExplorerError("A list needs a name.")
    if len(name) > 100:
        raise ExplorerError("Keep a list's name to 100 characters.")
    return name


def lists(sae: SaeIdentity) -> list[FeatureList]:
    """This SAE's lists, by name."""
    with connect() as connection:
        heads = connection.execute(
            "SELECT id, name, description FROM lists WHERE sae_hash = ? ORDER BY name COLLATE NOCASE",
            (sae.sae_hash,),
        ).fetchall()
        result = []
        for list_id, name, description in heads:
            items = connection.execute(
                "SELECT feature, note FROM list_items WHERE list_id = ? ORDER BY position", (list_id,)
            ).fetchall()
            result.append(
                FeatureList(list_id, name, description, [f for f, _ in items], [n for _, n in items])
            )
    return result


def get_list(sae: SaeIdentity, name: str) -> FeatureList:
    """One list by name; a clear error when this SAE has none of that name."""
    for feature_list in lists(sae):
        if feature_list.name == " ".join(name.split()):
            return feature_list
    raise ExplorerError(f"This SAE has no list named '{name}'.", hint="Create it from a feature's dashboard.")


def _upsert_list(connection: sqlite3.Connection, sae: SaeIdentity, name: str, description: str | None) -> int:
    """Create the list (or touch it, setting its description when one is given); its id."""
    now = time.time()
    _remember(connection, sae)
    connection.execute(
        "INSERT INTO lists (sae_hash, name, description, created, updated) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT(sae_hash, name) DO UPDATE SET updated = excluded.updated"
        + (", description = excluded.description" if description is not None else ""),
        (sae.sae_hash, name, description or "", now, now),
    )
    return connection.execute(
        "SELECT id FROM lists WHERE sae_hash = ? AND name = ?", (sae.sae_hash, name)
    ).fetchone()[0]


def save_list(sae: SaeIdentity, name: str, description: str = "") -> None:
    """Create a list, or update its description."""
    name = _check_name(name)
    with transaction() as connection:
        _upsert_list(connection, sae, name, description)


def add_to_list(sae: SaeIdentity, name: str, feature: int, note: str = "") -> None:
    """Append a feature to a list (created if needed); a feature already there keeps its place."""
    _check_feature(sae, feature)
    name = _check_name(name)
    with transaction() as connection:
        list_id = _upsert_list(connection, sae, name, None)
        (last,) = connection.execute(
            "SELECT COALESCE(MAX(position), -1) FROM list_items WHERE list_id = ?", (list_id,)
        ).fetchone()
        connection.execute(
            "INSERT OR IGNORE INTO list_items VALUES (?, ?, ?, ?)", (list_id, last + 1, feature, note)
        )


def set_list_items(sae: SaeIdentity, name: str, features: Sequence[int], notes: Sequence[str]) -> None:
    """Replace a list's items (their order and notes), e.g. after reordering or removing some."""
    if len(features) != len(notes):
        raise ExplorerError("Each item needs its note (possibly empty).")
    if len(set(features)) != len(features):
        raise ExplorerError("A feature can be in a list only once.")
    for feature in features:
        _check_feature(sae, feature)
    with transaction() as connection:
        row = connection.execute(
            "SELECT id FROM lists WHERE sae_hash = ? AND name = ?", (sae.sae_hash, _check_name(name))
        ).fetchone()
        if row is None:
            raise ExplorerError(f"This SAE has no list named '{name}'.")
        connection.execute("DELETE FROM list_items WHERE list_id = ?", (row[0],))
        connection.executemany(
            "INSERT INTO list_items VALUES (?, ?, ?, ?)",
            [(row[0], i, int(f), n or "") for i, (f, n) in enumerate(zip(features, notes, strict=True))],
        )
        connection.execute("UPDATE lists SET updated = ? WHERE id = ?", (time.time(), row[0]))


def delete_list(sae: SaeIdentity, name: str) -> None:
    """Delete a list and its items."""
    with transaction() as connection:
        connection.execute(
            "DELETE FROM lists WHERE sae_hash = ? AND name = ?", (sae.sae_hash, _check_name(name))
        )
