"""Fetching checkpoints from the Hugging Face Hub: download and pull (pushing: :mod:`zoo.publish`).

Everything goes through ``huggingface_hub``, so HF_ENDPOINT (mirrors), HF_HUB_OFFLINE,
HF_HOME / HF_HUB_CACHE and tokens (HF_TOKEN, ``hf auth login``) behave as everywhere else.

A download fetches only the files a checkpoint is made of (:data:`CHECKPOINT_FILES` and the shards
its index names): never a pickle, never code, never other weight files of the repo.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

from zoo import checkpoint
from zoo.errors import CheckpointError, ZooError


class HubError(ZooError):
    """A Hub repository or revision that cannot be reached, read or written."""


# The fixed names of a checkpoint's files; shards are the ones its index names.
CHECKPOINT_FILES = [
    checkpoint.CONFIG_NAME,
    checkpoint.WEIGHTS_NAME,
    checkpoint.INDEX_NAME,
    checkpoint.TOKENIZER_NAME,
    checkpoint.RESULTS_NAME,
    checkpoint.CARD_NAME,
]


def parse_repo_spec(spec: str) -> tuple[str, str | None]:
    """``"org/repo@rev"`` → ``("org/repo", "rev")``; the revision is optional."""
    repo_id, _, revision = spec.partition("@")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise HubError(f"{spec!r} is not a Hub repo id; expected 'org/repo' or 'org/repo@revision'")
    return repo_id, revision or None


@contextlib.contextmanager
def quiet_progress() -> Iterator[None]:
    """With ``ZOO_PROGRESS=0``, silence huggingface_hub's progress bars too (restored after)."""
    if os.environ.get("ZOO_PROGRESS", "1") != "0":
        yield
        return
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    was_disabled = are_progress_bars_disabled()
    with warnings.catch_warnings():  # HF_HUB_DISABLE_PROGRESS_BARS=0 has priority: then bars stay
        warnings.simplefilter("ignore")
        if not was_disabled:
            disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                enable_progress_bars()


# -- downloading ---------------------------------------------------------------------------
def plain_name(name: object, where: str) -> str:
    """``name`` if it is a plain file name (no folder part, no ``..``), else a CheckpointError."""
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise CheckpointError(
            f"{where} names {name!r}: shard names must be plain file names inside the checkpoint folder"
        )
    return name


def shard_names(index_path: Path) -> list[str]:
    """The shard file names of a ``model.safetensors.index.json`` (plain ``*.safetensors`` names only)."""
    try:
        weight_map = json.loads(index_path.read_text(encoding="utf-8"))["weight_map"]
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise CheckpointError(f"{index_path} is not a valid safetensors index: {exc!r}") from None
    if not isinstance(weight_map, dict) or not all(isinstance(k, str) for k in weight_map):
        raise CheckpointError(f"{index_path}: 'weight_map' must map tensor names to shard file names")
    names = sorted({plain_name(v, str(index_path)) for v in weight_map.values()})
    bad = [n for n in names if not n.endswith(".safetensors")]
    if bad:
        raise CheckpointError(f"{index_path} names shards that are not .safetensors files: {bad}")
    return names


def hub_call_error(exc: Exception, what: str, repo_id: str, revision: str | None = None) -> HubError:
    """A HubError a user can act on, for an exception raised by huggingface_hub or the network."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(exc, GatedRepoError):
        return HubError(f"{what}: {repo_id!r} is gated; accept its terms on the Hub and set HF_TOKEN")
    if isinstance(exc, RepositoryNotFoundError):
        return HubError(
            f"{what}: Hub repo {repo_id!r} does not exist or is private (set HF_TOKEN or run `hf auth login`)"
        )
    if isinstance(exc, RevisionNotFoundError):
        return HubError(
            f"{what}: Hub repo {repo_id!r} has no revision {revision!r} (a branch, tag or commit)"
        )
    if isinstance(exc, LocalEntryNotFoundError):
        return HubError(
            f"cannot reach the Hub for {repo_id!r}{'@' + revision if revision else ''} and it is not in the "
            f"local cache (offline: HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', '')!r}). Connect once "
            "to fetch it, or point HF_ENDPOINT at a mirror"
        )
    if isinstance(exc, OfflineModeIsEnabled):
        return HubError(f"{what}: HF_HUB_OFFLINE=1 is set, and this needs the network; unset it to go online")
    if isinstance(exc, HFValidationError):
        return HubError(f"{what}: {repo_id!r} is not a valid Hub repo id or revision: {exc}")
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, HfHubHTTPError) and status in (401, 403):
        return HubError(
            f"{what}: the Hub refused the token for {repo_id!r} (HTTP {status}). Set HF_TOKEN or run "
            "`hf auth login` with a token that may write to this repo"
        )
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return HubError(f"{what} ({repo_id!r}) failed: {first_line}")


def network_errors() -> tuple[type[Exception], ...]:
    """What huggingface_hub raises for HTTP answers, invalid ids and a network that is gone."""
    import importlib

    from huggingface_hub.errors import HfHubHTTPError, HFValidationError

    errors: list[type[Exception]] = [HfHubHTTPError, HFValidationError, OSError]
    for name in ("httpx2", "httpx", "requests"):  # the HTTP client huggingface_hub uses (by version)
        with contextlib.suppress(ImportError):
            module = importlib.import_module(name)
            errors.append(module.HTTPError if hasattr(module, "HTTPError") else module.RequestException)
    return tuple(errors)


def _download(spec: str, token: str | bool | None, files: list[str] | None = None) -> tuple[Path, list[str]]:
    """Fetch a checkpoint (``files``, default :data:`CHECKPOINT_FILES`, and the shards its index names);
    return its snapshot folder and the names of its files there."""
    from huggingface_hub import hf_hub_download, snapshot_download

    repo_id, revision = parse_repo_spec(spec)
    files = files or CHECKPOINT_FILES
    try:
        with quiet_progress():
            path = Path(snapshot_download(repo_id, revision=revision, allow_patterns=files, token=token))
            names = [n for n in files if (path / n).is_file()]
            if checkpoint.INDEX_NAME in names:
                shards = shard_names(path / checkpoint.INDEX_NAME)
                commit = path.name  # snapshots/<commit>: every shard comes from the same commit
                for shard in shards:
                    hf_hub_download(repo_id, shard, revision=commit, token=token)
                names += shards
    except network_errors() as exc:
        raise hub_call_error(exc, f"downloading {spec!r}", repo_id, revision) from exc
    damaged = corrupted(path, names)
    if damaged:  # a cached file whose bytes no longer match its hash: never loaded; fetched again, once
        from huggingface_hub import constants

        if constants.HF_HUB_OFFLINE:
            raise CheckpointError(
                f"{spec}: {damaged} in the Hugging Face cache ({path}) do not match their hashes (the files "
                "were damaged after download), and offline mode (HF_HUB_OFFLINE=1) cannot fetch them again: "
                "go online, or delete that snapshot folder and its blobs"
            )
        try:
            with quiet_progress():
                for name in damaged:
                    hf_hub_download(repo_id, name, revision=path.name, token=token, force_download=True)
        except network_errors() as exc:
            reason = hub_call_error(exc, "downloading", repo_id)
            raise CheckpointError(
                f"{spec}: {damaged} in the Hugging Face cache ({path}) do not match their hashes (the files "
                f"were damaged after download) and downloading them again failed: {reason}"
            ) from None
        if corrupted(path, damaged):
            raise CheckpointError(
                f"{spec}: {damaged} in the Hugging Face cache ({path}) do not match their hashes, even after "
                "downloading them again; delete that snapshot folder and its blobs and retry"
            )
    return path, names


def corrupted(snapshot: Path, names: list[str]) -> list[str]:
    """The files of a cache snapshot whose bytes do not match the hash their blob is named by.

    huggingface_hub's cache stores each file once, as ``blobs/<hash>``, named by the Hub's ETag: the sha256
    of an LFS file (64 hex digits) or the git blob sha1 of a regular one (40). A file that is not such a
    link (a cache without symlinks, a local folder) cannot be checked and is taken as it is.
    """
    damaged = []
    for name in names:
        link = snapshot / name
        if not link.is_symlink():
            continue
        blob = link.resolve()
        expected = blob.name.lower()
        if len(expected) not in (40, 64) or any(c not in "0123456789abcdef" for c in expected):
            continue
        digest = hashlib.sha256() if len(expected) == 64 else hashlib.sha1(usedforsecurity=False)
        try:
            size = blob.stat().st_size
            if len(expected) == 40:
                digest.update(b"blob %d\0" % size)
            with blob.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
        except OSError:
            damaged.append(name)
            continue
        if digest.hexdigest() != expected:
            damaged.append(name)
    return damaged


def download(spec: str, *, token: str | bool | None = None, files: list[str] | None = None) -> Path:
    """Fetch a checkpoint into the huggingface_hub cache (or find it there); return its folder.

    Only the checkpoint's files are fetched: ``files`` (exact names, default :data:`CHECKPOINT_FILES`)
    and the shards its index names.
    """
    return _download(spec, token, files)[0]


def pull(spec: str, directory: str | os.PathLike[str], *, token: str | bool | None = None) -> Path:
    """Download a checkpoint and copy it to ``directory`` (replaced atomically)."""
    source, names = _download(spec, token)
    checkpoint.read_config(source)
    dest = Path(directory)
    with checkpoint.atomic_directory(dest) as tmp:
        for name in names:
            shutil.copyfile(source / name, tmp / name)  # resolves the cache's symlinks
    return dest


__all__ = ["CHECKPOINT_FILES", "HubError", "download", "parse_repo_spec", "pull"]
