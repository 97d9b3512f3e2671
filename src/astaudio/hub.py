"""Finding model files: a local folder, or a Hugging Face hub id through huggingface_hub's cache.

Offline machines get one clear error, fast: the endpoint is probed once per process with a
short timeout, and when it can't be reached only the local cache is consulted (no retries).
"""

from __future__ import annotations

import functools
import os
import socket
import urllib.parse
from pathlib import Path

from .errors import ModelNotFoundError

PROBE_TIMEOUT_S = 3.0  # seconds to wait for a TCP connection to the hub before calling it offline


@functools.lru_cache(maxsize=4)
def _endpoint_reachable(endpoint: str) -> bool:
    url = urllib.parse.urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def _hub_offline() -> bool:
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "0").lower() in {
        "1",
        "true",
        "yes",
    }:
        return True
    endpoint = os.environ.get("HF_ENDPOINT", constants.ENDPOINT)
    return not _endpoint_reachable(endpoint)


def looks_like_local_path(name: str | os.PathLike) -> bool:
    """True for things a user means as a path rather than a hub id ("owner/name")."""
    text = os.fspath(name)
    return (
        Path(text).exists()
        or text.startswith((".", "/", "~"))
        or text.count("/") > 1
        or "\\" in text
        or text.endswith((".pth", ".pt", ".bin", ".safetensors", ".json"))
    )


def resolve_file(
    model: str | os.PathLike,
    filename: str,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
    force_download: bool = False,
    required: bool = True,
) -> Path | None:
    """Path of ``filename`` inside a local model folder or a hub repository.

    Returns None when the repository exists but has no such file and ``required`` is False.
    Raises ModelNotFoundError (one line, saying how to proceed) when the folder or repo
    can't be found, or the hub can't be reached and nothing is cached.
    """
    from .bundled import bundled_hint, resolve_bundled

    text = os.fspath(resolve_bundled(model))
    folder = Path(text).expanduser()
    if folder.is_dir():
        path = folder / filename
        if path.is_file():
            return path
        if required:
            raise ModelNotFoundError(f"{folder}: no {filename} in this folder")
        return None
    if looks_like_local_path(text):
        raise ModelNotFoundError(f"{text}: no such model folder ({bundled_hint()})")
    # a bare name ("keywords") is more likely a mistyped bundled model than a hub id
    hint = "" if "/" in text else f"; {bundled_hint()}"

    from huggingface_hub import errors as hub_errors
    from huggingface_hub import hf_hub_download

    offline = local_files_only or _hub_offline()
    try:
        return Path(
            hf_hub_download(
                text,
                filename,
                revision=revision,
                cache_dir=cache_dir,
                token=token,
                local_files_only=offline,
                force_download=force_download and not offline,
                library_name="astaudio",
            )
        )
    except hub_errors.LocalEntryNotFoundError:
        if not offline:
            raise ModelNotFoundError(f"{text}: could not download {filename}") from None
        if not required and _cached_repo_exists(text, revision, cache_dir):
            return None
        raise ModelNotFoundError(
            f"{text}: the hub can't be reached and {filename} is not in the local cache; "
            "pass a local model folder instead, or run once with network to fill the cache "
            f"(then HF_HUB_OFFLINE=1 uses it){hint}"
        ) from None
    except hub_errors.RepositoryNotFoundError:
        raise ModelNotFoundError(
            f"{text}: no such model on the hub (or it is private/gated: pass token=...){hint}"
        ) from None
    except hub_errors.HFValidationError:
        raise ModelNotFoundError(
            f"{text}: neither a model folder nor a valid hub id ({bundled_hint()})"
        ) from None
    except hub_errors.RevisionNotFoundError:
        raise ModelNotFoundError(f"{text}: revision {revision!r} does not exist") from None
    except hub_errors.EntryNotFoundError:
        if required:
            raise ModelNotFoundError(f"{text}: the repository has no {filename}") from None
        return None
    except (hub_errors.HfHubHTTPError, OSError) as exc:
        raise ModelNotFoundError(f"{text}: download of {filename} failed ({exc})") from None


def _cached_repo_exists(repo_id: str, revision: str | None, cache_dir) -> bool:
    from huggingface_hub import constants

    root = Path(cache_dir or constants.HF_HUB_CACHE)
    refs = root / f"models--{repo_id.replace('/', '--')}" / "refs" / (revision or "main")
    return refs.is_file()
