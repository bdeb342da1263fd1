"""Pushing a checkpoint to the Hugging Face Hub: validated like a load, one commit or nothing.

A push is checked before any network call (the folder's files, the weights are safetensors, the
staged copy loads through :mod:`zoo.loading`), checks refs before committing, changes the remote in
one commit or not at all, and replaces exactly the files an earlier zoo push wrote (listed as
``zoo_files`` in the model card's front matter). Transport and errors: :mod:`zoo.hub`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any

from zoo import checkpoint, loading, lookup, modelcard
from zoo.checks import check_folder
from zoo.errors import CheckpointError, MissingPluginError, UnknownEntryError, ZooError
from zoo.hub import (
    CHECKPOINT_FILES,
    HubError,
    hub_call_error,
    network_errors,
    parse_repo_spec,
    quiet_progress,
    shard_names,
)


# -- validating a folder before a push -----------------------------------------------------
def _regular_file_inside(folder: Path, name: str) -> Path:
    """``folder / name`` if it is a regular file whose real path stays inside ``folder``."""
    path = folder / name
    real = path.resolve()
    if not real.is_relative_to(folder.resolve()):
        raise CheckpointError(
            f"{path} is a link to {real}, outside the checkpoint folder: refused (a push never uploads "
            "files from elsewhere). Copy the file into the folder if you mean to publish it"
        )
    try:
        mode = real.stat().st_mode
    except OSError as exc:
        raise CheckpointError(f"{path} cannot be read: {exc}") from None
    if not stat.S_ISREG(mode):
        raise CheckpointError(f"{path} is not a regular file: refused")
    return path


def _check_weights(paths: list[Path]) -> None:
    """Every file is readable safetensors (header and offsets), and no tensor is in two files."""
    from safetensors import SafetensorError, safe_open

    seen: dict[str, str] = {}
    for path in paths:
        if checkpoint.looks_pickled(path):
            raise CheckpointError(
                f"{path} is a pickle (a torch.save file), not safetensors: refused, never uploaded"
            )
        try:
            with safe_open(str(path), framework="pt") as f:
                keys = list(f.keys())
        except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
            raise CheckpointError(
                f"{path} is not a readable safetensors file ({exc}); save it again"
            ) from None
        for key in keys:
            if key in seen:
                raise CheckpointError(f"tensor {key!r} is in both {seen[key]} and {path.name}")
            seen[key] = path.name


def validate_folder(folder: str | os.PathLike[str]) -> list[str]:
    """Check a checkpoint folder the way ``zoo.load`` does; return the file names a push uploads.

    Refused with a :class:`CheckpointError`: a missing or unreadable config, an architecture no
    installed plugin provides, weights that are pickles or not readable safetensors, index shard
    names that are not plain files in the folder, and any file that is a link leaving the folder.
    Files other than :data:`CHECKPOINT_FILES` and the index's shards are never uploaded.
    """
    path = check_folder(folder, "push a checkpoint folder written by zoo train / zoo.save", CheckpointError)
    names = [n for n in CHECKPOINT_FILES if (path / n).exists() or (path / n).is_symlink()]
    for name in names:
        _regular_file_inside(path, name)
    if checkpoint.INDEX_NAME in names:
        weights = shard_names(path / checkpoint.INDEX_NAME)
        missing = [w for w in weights if not (path / w).exists()]
        if missing:
            raise CheckpointError(f"{path}: shard(s) named by the index are missing: {missing}")
        for w in weights:
            _regular_file_inside(path, w)
        names = [n for n in names if n != checkpoint.WEIGHTS_NAME] + weights
    elif checkpoint.WEIGHTS_NAME in names:
        weights = [checkpoint.WEIGHTS_NAME]
    else:
        pickles = sorted(p.name for p in path.iterdir() if p.suffix in checkpoint.PICKLE_SUFFIXES)
        hint = f" (it holds {', '.join(pickles)}: pickles are never uploaded)" if pickles else ""
        raise CheckpointError(f"{path} has no {checkpoint.WEIGHTS_NAME} (nor {checkpoint.INDEX_NAME}){hint}")
    config = checkpoint.read_config(path)
    try:
        lookup.resolve(config.architecture)
    except UnknownEntryError as exc:
        raise MissingPluginError(
            f"{path} names the architecture {config.architecture!r}, which no installed plugin provides "
            f"({exc}); a push is checked like a load, so install the plugin first"
        ) from None
    _check_weights([path / w for w in weights])
    return names


def _stage(folder: Path, names: list[str], dest: Path, repo_ref: str) -> list[str]:
    """Copy the validated files to ``dest``; the card names the repo and lists the files zoo owns."""
    dest.mkdir()
    for name in names:
        shutil.copyfile(folder / name, dest / name)
    owned = sorted({*names, checkpoint.CARD_NAME})
    card = dest / checkpoint.CARD_NAME
    if card.is_file():
        text = card.read_text(encoding="utf-8")
    else:
        results = None
        if (dest / checkpoint.RESULTS_NAME).is_file():
            with contextlib.suppress(ValueError, OSError):
                results = json.loads((dest / checkpoint.RESULTS_NAME).read_text(encoding="utf-8"))
        text = modelcard.render(checkpoint.read_config(dest), results if isinstance(results, dict) else None)
    card.write_text(modelcard.for_push(text, repo_ref, owned), encoding="utf-8")
    return owned


def _check_loads(staged: Path, folder: Path) -> None:
    """Load the staged copy (the exact bytes a push uploads) as ``zoo.load`` would; refuse if it fails."""
    try:
        loading.load_dir(staged)
    except ZooError as exc:
        raise CheckpointError(f"{folder} does not load, so it is not pushed: {exc}") from None
    except Exception as exc:  # a factory rejecting model_args, a state dict that does not fit, ...
        raise CheckpointError(
            f"{folder} does not load, so it is not pushed: {type(exc).__name__}: {exc}"
        ) from None


# -- pushing -------------------------------------------------------------------------------
def _remote_owned(api: Any, repo_id: str, revision: str, remote_files: set[str]) -> set[str]:
    """The files an earlier zoo push wrote at ``revision`` (its card's ``zoo_files``).

    A repo pushed before the list existed: its fixed checkpoint names and the shards its index names.
    """
    from huggingface_hub import hf_hub_download

    if checkpoint.CARD_NAME in remote_files:
        card = hf_hub_download(repo_id, checkpoint.CARD_NAME, revision=revision, token=api.token)
        owned = modelcard.owned_files(Path(card).read_text(encoding="utf-8"))
        if owned is not None:
            return owned & remote_files
    owned = {n for n in CHECKPOINT_FILES if n in remote_files}
    if checkpoint.INDEX_NAME in remote_files:
        index = hf_hub_download(repo_id, checkpoint.INDEX_NAME, revision=revision, token=api.token)
        with contextlib.suppress(CheckpointError):
            owned |= set(shard_names(Path(index))) & remote_files
    return owned


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
    """Upload a model (saved first) or a checkpoint folder to ``repo_id`` in ONE commit; return its id.

    Before any network call the folder is validated like a load (:func:`validate_folder`). Then the
    refs are checked (an existing ``tag`` fails here), the repo is created if needed (``private``) and
    the branch ``revision`` if it does not exist. The commit adds the checkpoint's files and deletes
    the files an earlier zoo push wrote that this one does not have; files zoo did not write stay.
    A push that fails leaves the remote as it was (a branch it created is deleted again).
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    parse_repo_spec(repo_id)
    branch = revision or "main"
    with tempfile.TemporaryDirectory(prefix="zoo-push-") as tmp:
        if isinstance(obj, str | os.PathLike):
            folder = Path(obj).expanduser()
        else:
            folder = checkpoint.save(obj, Path(tmp) / "checkpoint")
        names = validate_folder(folder)
        architecture = checkpoint.read_config(folder).architecture
        staged = Path(tmp) / "staged"
        repo_ref = repo_id if branch == "main" else f"{repo_id}@{branch}"
        owned = _stage(folder, names, staged, repo_ref)
        _check_loads(staged, folder)
        # every check is done: from here on the network
        api = HfApi(token=token)
        created_branch = False
        with quiet_progress():
            try:
                if api.repo_exists(repo_id):
                    refs = api.list_repo_refs(repo_id)
                    if tag and tag in {t.name for t in refs.tags}:
                        raise HubError(
                            f"{repo_id} already has a tag {tag!r}: nothing was pushed. Choose a new tag "
                            "(a tag names one version for good)"
                        )
                else:
                    api.create_repo(repo_id, private=private, exist_ok=True)
                    refs = api.list_repo_refs(repo_id)
                if branch not in {b.name for b in refs.branches}:
                    api.create_branch(repo_id, branch=branch, exist_ok=True)
                    created_branch = True
                head = api.model_info(repo_id, revision=branch, files_metadata=False)
                remote_files = {s.rfilename for s in (head.siblings or [])}
                stale = _remote_owned(api, repo_id, head.sha or branch, remote_files) - set(owned)
                operations: list[Any] = [
                    CommitOperationAdd(path_in_repo=n, path_or_fileobj=str(staged / n)) for n in owned
                ]
                operations += [CommitOperationDelete(path_in_repo=n) for n in sorted(stale)]
                info = api.create_commit(
                    repo_id,
                    operations,
                    commit_message=commit_message or f"Upload {architecture} with kexue-zoo",
                    revision=branch,
                    parent_commit=head.sha,
                )
            except HubError:
                raise
            except network_errors() as exc:
                if created_branch:
                    with contextlib.suppress(Exception):
                        api.delete_branch(repo_id, branch=branch)
                raise hub_call_error(exc, f"pushing to {repo_id}", repo_id, branch) from exc
            oid: str = info.oid
            if tag:
                try:
                    api.create_tag(repo_id, tag=tag, revision=oid, exist_ok=False)
                except network_errors() as exc:
                    raise HubError(
                        f"pushed commit {oid[:12]} to {repo_id}@{branch}, but tagging it {tag!r} failed "
                        f"({hub_call_error(exc, 'tagging', repo_id)}); tag it with "
                        f"`hf repo tag create {repo_id} {tag} --revision {oid}`"
                    ) from exc
    return oid


__all__ = ["push", "validate_folder"]
