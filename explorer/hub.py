"""The Hugging Face Hub: online when it answers, else the local cache only, with errors that say what failed.

A real cache miss (the file is not in the local cache and the hub cannot be asked) names the offline
options. Any other failure (a truncated cached file, a config the library cannot read) is reported
as itself, with the cached file it came from where that is known.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from urllib.parse import urlparse

from explorer.errors import ExplorerError

HUB_OFFLINE_HINT = (
    "Use the embedded demo (`demo`), a local SAE directory, or a local Hugging Face cache "
    "(set HF_HOME) that already holds it."
)


def _hub_host() -> tuple[str, int]:
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    return endpoint.hostname or "huggingface.co", endpoint.port or 443


def hub_reachable(timeout_s: float = 2.0) -> bool:
    """Whether the Hugging Face Hub answers a TCP connection within `timeout_s` (False when offline mode is set)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    try:
        with socket.create_connection(_hub_host(), timeout=timeout_s):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def hub_mode() -> Iterator[bool]:
    """Run hub calls online when the hub answers, else in offline mode so only the local cache is used."""
    from huggingface_hub import constants

    online = hub_reachable()
    previous = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = previous or not online
    try:
        yield online
    finally:
        constants.HF_HUB_OFFLINE = previous


def describe_error(error: BaseException) -> str:
    """`TypeName: message` on one line (the first line of the message)."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@contextlib.contextmanager
def hub_errors(what: str, hint: str = HUB_OFFLINE_HINT, cached_file: str | None = None) -> Iterator[None]:
    """Run hub calls (online when the hub answers, else from the local cache) and explain any failure.

    Only a real cache miss is reported as one; anything else says what failed (and in which cached
    file, when `cached_file` names it or the error does).
    """
    with hub_mode() as online:
        try:
            yield
        except ExplorerError:
            raise
        except Exception as error:
            if is_missing_from_cache(error):
                if online:
                    raise ExplorerError(
                        f"Could not download {what}: {describe_error(error)}", hint=hint
                    ) from None
                raise ExplorerError(
                    f"The Hugging Face Hub is unreachable and {what} is not in the local cache.", hint=hint
                ) from None
            where = f" (cached file {cached_file})" if cached_file else ""
            source = "the local Hugging Face cache" if not online else "the Hugging Face Hub"
            raise ExplorerError(
                f"Could not load {what} from {source}{where}: {describe_error(error)}"
            ) from None


def is_missing_from_cache(error: BaseException) -> bool:
    """True when `error` (or its cause) means a file is not in the local cache and cannot be fetched."""
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    chain: BaseException | None = error
    while chain is not None:
        if isinstance(chain, LocalEntryNotFoundError | OfflineModeIsEnabled):
            return True
        if isinstance(chain, OSError) and "offline" in str(chain).lower() and "cache" in str(chain).lower():
            return True
        chain = chain.__cause__ or chain.__context__
    return False
