"""Sharing checkpoints on the Hugging Face Hub: download, pull and push.

Everything goes through ``huggingface_hub``, so HF_ENDPOINT (mirrors), HF_HUB_OFFLINE,
HF_HOME / HF_HUB_CACHE and tokens (HF_TOKEN, ``hf auth login``) behave as everywhere else.

A download fetches only the files a checkpoint is made of (:data:`CHECKPOINT_FILES` and the shards
its index names): never a pickle, never code, never other weight files of the repo. A push is
validated like a load before any network call, checks refs before committing, changes the remote
in one commit or not at all, and replaces exactly the files an earlier zoo push wrote (listed as
``zoo_files`` in the model card's front matter).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo import checkpoint, modelcard
from zoo.checks import check_folder
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
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


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


def _hub_call_error(exc: Exception, what: str, repo_id: str, revision: str | None = None) -> HubError:
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


def _network_errors() -> tuple[type[Exception], ...]:
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
    except _network_errors() as exc:
        raise _hub_call_error(exc, f"downloading {spec!r}", repo_id, revision) from exc
    return path, names


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


def _looks_pickled(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(4)
    return head == b"PK\x03\x04" or (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5)


def _check_weights(paths: list[Path]) -> None:
    """Every file is readable safetensors (header and offsets), and no tensor is in two files."""
    from safetensors import SafetensorError, safe_open

    seen: dict[str, str] = {}
    for path in paths:
        if _looks_pickled(path):
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
    from zoo import api
    from zoo.errors import MissingPluginError, UnknownEntryError

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
        pickles = sorted(p.name for p in path.iterdir() if p.suffix in _PICKLE_SUFFIXES)
        hint = f" (it holds {', '.join(pickles)}: pickles are never uploaded)" if pickles else ""
        raise CheckpointError(f"{path} has no {checkpoint.WEIGHTS_NAME} (nor {checkpoint.INDEX_NAME}){hint}")
    config = checkpoint.read_config(path)
    try:
        api.resolve(config.architecture)
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
        checkpoint.load_dir(staged)
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
            except _network_errors() as exc:
                if created_branch:
                    with contextlib.suppress(Exception):
                        api.delete_branch(repo_id, branch=branch)
                raise _hub_call_error(exc, f"pushing to {repo_id}", repo_id, branch) from exc
            oid: str = info.oid
            if tag:
                try:
                    api.create_tag(repo_id, tag=tag, revision=oid, exist_ok=False)
                except _network_errors() as exc:
                    raise HubError(
                        f"pushed commit {oid[:12]} to {repo_id}@{branch}, but tagging it {tag!r} failed "
                        f"({_hub_call_error(exc, 'tagging', repo_id)}); tag it with "
                        f"`hf repo tag create {repo_id} {tag} --revision {oid}`"
                    ) from exc
    return oid


__all__ = ["CHECKPOINT_FILES", "HubError", "download", "parse_repo_spec", "pull", "push", "validate_folder"]
