"""Sharing checkpoints on the Hugging Face Hub: download, pull and push.

Everything goes through ``huggingface_hub``, so HF_ENDPOINT (mirrors), HF_HUB_OFFLINE,
HF_HOME / HF_HUB_CACHE and tokens (HF_TOKEN, ``hf auth login``) behave as everywhere else.
Only checkpoint files are fetched (:data:`zoo.checkpoint.ALLOW_PATTERNS`): never a pickle,
never code.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from zoo import checkpoint
from zoo.errors import ZooError


class HubError(ZooError):
    """A Hub repository or revision that cannot be reached, read or written."""


def parse_repo_spec(spec: str) -> tuple[str, str | None]:
    """``"org/repo@rev"`` → ``("org/repo", "rev")``; the revision is optional."""
    repo_id, _, revision = spec.partition("@")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise HubError(f"{spec!r} is not a Hub repo id; expected 'org/repo' or 'org/repo@revision'")
    return repo_id, revision or None


def download(spec: str, *, token: str | bool | None = None) -> Path:
    """Fetch a checkpoint into the huggingface_hub cache (or find it there); return its folder."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    repo_id, revision = parse_repo_spec(spec)
    try:
        path = snapshot_download(
            repo_id, revision=revision, allow_patterns=checkpoint.ALLOW_PATTERNS, token=token
        )
    except RepositoryNotFoundError as exc:
        raise HubError(
            f"Hub repo {repo_id!r} does not exist or is private (set HF_TOKEN or run `hf auth login`)"
        ) from exc
    except RevisionNotFoundError as exc:
        raise HubError(
            f"Hub repo {repo_id!r} has no revision {revision!r} (a branch, tag or commit)"
        ) from exc
    except LocalEntryNotFoundError as exc:
        raise HubError(
            f"cannot reach the Hub for {spec!r} and it is not in the local cache "
            f"(offline: HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', '')!r}). Connect once to fetch it, "
            "or point HF_ENDPOINT at a mirror"
        ) from exc
    return Path(path)


def pull(spec: str, directory: str | os.PathLike[str], *, token: str | bool | None = None) -> Path:
    """Download a checkpoint and copy it to ``directory`` (replaced atomically)."""
    source = download(spec, token=token)
    checkpoint.read_config(source)
    dest = Path(directory)
    with checkpoint.atomic_directory(dest) as tmp:
        for item in source.iterdir():
            if item.is_file():
                shutil.copyfile(item, tmp / item.name)  # resolves the cache's symlinks
    return dest


def push(
    obj: Any,
    repo_id: str,
    *,
    revision: str | None = None,
    private: bool | None = None,
    token: str | None = None,
    commit_message: str | None = None,
    tag: str | None = None,
) -> str:
    """Upload a model (saved first) or a checkpoint folder to ``repo_id`` in ONE commit.

    Creates the repo if needed (``private``) and the branch ``revision`` if it does not
    exist; stale weight files (old shards) are deleted in the same commit; ``tag`` tags it.
    A push that fails leaves the remote as it was. Returns the commit id.
    """
    from huggingface_hub import HfApi

    parse_repo_spec(repo_id)
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="zoo-push-") as tmp:
        if isinstance(obj, str | os.PathLike):
            folder = Path(obj)
            checkpoint.weight_files(folder)  # refuse a folder without safetensors weights before any upload
        else:
            folder = checkpoint.save(obj, Path(tmp) / "checkpoint")
        architecture = checkpoint.read_config(folder).architecture
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision and revision != "main":
            refs = api.list_repo_refs(repo_id)
            if revision not in {b.name for b in refs.branches}:
                api.create_branch(repo_id, branch=revision, exist_ok=True)
        info = api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            revision=revision,
            allow_patterns=checkpoint.ALLOW_PATTERNS,
            delete_patterns=["*.safetensors", checkpoint.INDEX_NAME],
            commit_message=commit_message or f"Upload {architecture} with kexue-zoo",
        )
    oid: str = info.oid
    if tag:
        api.create_tag(repo_id, tag=tag, revision=oid, exist_ok=False)
    return oid


__all__ = ["HubError", "download", "parse_repo_spec", "pull", "push"]
