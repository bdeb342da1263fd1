"""Git-like, content-addressed storage behind :class:`zoo.testing.HubServer`.

Blobs are keyed by their git blob sha1 (what the Hub sends as ``ETag`` for regular files), commit oids are
git commit hashes (tree + parent + author + date + message) and every commit keeps a full flat snapshot
``path -> blob oid``. Storage lives in memory, or under ``root`` (blobs as files plus an atomically rewritten
``state.json``) so a server restarted on the same directory sees the same repositories.

Standard library only; all mutations hold one lock and are all-or-nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

__all__ = [
    "AddBlob",
    "AddFile",
    "BlobStore",
    "Commit",
    "DeleteFile",
    "DeleteFolder",
    "HubError",
    "HubStore",
    "Operation",
    "Repo",
    "git_blob_oid",
]

REPO_TYPES = ("model", "dataset", "space")
DEFAULT_BRANCH = "main"
GITATTRIBUTES = (
    "".join(
        f"*.{ext} filter=lfs diff=lfs merge=lfs -text\n"
        for ext in ("7z", "bin", "ckpt", "gz", "h5", "npy", "npz", "onnx", "pt", "pth", "safetensors", "zip")
    )
    + "*tfevents* filter=lfs diff=lfs merge=lfs -text\n"
).encode()

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_FULL_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
_SHORT_SHA_RE = re.compile(r"^[0-9a-f]{7,39}$")


class HubError(Exception):
    """An HTTP error the server answers with: ``status``, optional ``X-Error-Code``, a message, extra
    response headers and extra fields for the JSON body (``{"error": message, **body}``)."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        body: dict[str, object] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}
        self.body = body or {}


def repo_not_found(repo_id: str, status: int = 404) -> HubError:
    """The error the Hub answers for a missing (or hidden private) repository."""
    return HubError(status, f"Repository not found: {repo_id}", "RepoNotFound")


def git_blob_oid(data: bytes) -> str:
    """Git blob sha1 of ``data`` (``git hash-object``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(dt: datetime) -> str:
    """Hub date format, e.g. ``2024-01-31T12:00:00.123Z``."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def validate_path(path: str) -> str:
    """Reject paths git (and the Hub) would refuse: empty, absolute, ``..``/``.`` segments, ``.git``."""
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts) or parts[0] == ".git":
        raise HubError(400, f"Invalid path in repo: {path!r}")
    return path


@dataclass(frozen=True)
class Commit:
    """One immutable commit: full snapshot ``files`` (path -> blob oid) plus metadata."""

    oid: str
    parent: str | None
    files: Mapping[str, str]
    title: str
    message: str
    author: str
    date: datetime

    def to_json(self) -> dict[str, object]:
        return {
            "oid": self.oid,
            "parent": self.parent,
            "files": dict(self.files),
            "title": self.title,
            "message": self.message,
            "author": self.author,
            "date": self.date.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Commit:
        return cls(
            oid=str(data["oid"]),
            parent=None if data["parent"] is None else str(data["parent"]),
            files=dict(data["files"]),  # type: ignore[call-overload]
            title=str(data["title"]),
            message=str(data["message"]),
            author=str(data["author"]),
            date=datetime.fromisoformat(str(data["date"])),
        )


@dataclass
class Repo:
    """A repository: its commits, branches (name -> oid) and tags (name -> oid)."""

    repo_type: str
    repo_id: str
    private: bool
    created_at: datetime
    gated: str | bool = False
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "repo_type": self.repo_type,
            "repo_id": self.repo_id,
            "private": self.private,
            "gated": self.gated,
            "created_at": self.created_at.isoformat(),
            "commits": [c.to_json() for c in self.commits.values()],
            "branches": self.branches,
            "tags": self.tags,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Repo:
        commits = [Commit.from_json(c) for c in data["commits"]]  # type: ignore[attr-defined]
        return cls(
            repo_type=str(data["repo_type"]),
            repo_id=str(data["repo_id"]),
            private=bool(data["private"]),
            gated=data.get("gated", False),  # type: ignore[arg-type]
            created_at=datetime.fromisoformat(str(data["created_at"])),
            commits={c.oid: c for c in commits},
            branches=dict(data["branches"]),  # type: ignore[call-overload]
            tags=dict(data["tags"]),  # type: ignore[call-overload]
        )

    def resolve(self, revision: str) -> Commit:
        """Commit for a branch, tag (also ``refs/heads/x``/``refs/tags/x``), full or >=7-char commit sha."""
        rev = revision
        if rev.startswith("refs/heads/"):
            oid = self.branches.get(rev[len("refs/heads/") :])
        elif rev.startswith("refs/tags/"):
            oid = self.tags.get(rev[len("refs/tags/") :])
        else:
            oid = self.branches.get(rev) or self.tags.get(rev)
        if oid is None and _FULL_SHA_RE.match(rev) and rev in self.commits:
            oid = rev
        if oid is None and _SHORT_SHA_RE.match(rev):
            matches = [c for c in self.commits if c.startswith(rev)]
            oid = matches[0] if len(matches) == 1 else None
        if oid is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return self.commits[oid]

    def history(self, revision: str) -> list[Commit]:
        """Commits reachable from ``revision``, newest first."""
        commit: Commit | None = self.resolve(revision)
        out: list[Commit] = []
        while commit is not None:
            out.append(commit)
            commit = self.commits[commit.parent] if commit.parent else None
        return out

    def last_commit(self, revision: str, path: str) -> Commit:
        """Most recent commit (from ``revision`` back) that changed ``path`` (a file or a folder)."""
        history = self.history(revision)
        current = _subtree(history[0].files, path)
        last = history[0]
        for commit in history[1:]:
            if _subtree(commit.files, path) != current:
                break
            last = commit
        return last


def _subtree(files: Mapping[str, str], path: str) -> dict[str, str]:
    prefix = path.rstrip("/") + "/"
    return {p: o for p, o in files.items() if p == path or p.startswith(prefix)}


def tree_oid(files: Mapping[str, str], folder: str = "") -> str:
    """Git tree sha1 of ``folder`` ("" = root) in the flat snapshot ``files``."""
    prefix = folder + "/" if folder else ""
    children: dict[str, tuple[str, bool]] = {}
    for path in files:
        if not path.startswith(prefix):
            continue
        name, _, rest = path[len(prefix) :].partition("/")
        children[name] = (prefix + name, bool(rest))
    entries = []
    for name in sorted(children, key=lambda n: n + "/" if children[n][1] else n):
        full, is_dir = children[name]
        oid = tree_oid(files, full) if is_dir else files[full]
        entries.append(f"{'40000' if is_dir else '100644'} {name}".encode() + b"\0" + bytes.fromhex(oid))
    body = b"".join(entries)
    return hashlib.sha1(b"tree %d\0" % len(body) + body).hexdigest()


def commit_oid(tree: str, parent: str | None, author: str, date: datetime, title: str, message: str) -> str:
    """Git commit sha1 over tree, parent, author/committer with timestamp, and message."""
    ident = f"{author} <{author}@users.noreply.huggingface.co> {int(date.timestamp())} +0000"
    text = f"tree {tree}\n" + (f"parent {parent}\n" if parent else "")
    text += f"author {ident}\ncommitter {ident}\n\n{title}\n" + (f"\n{message}\n" if message else "")
    body = text.encode()
    return hashlib.sha1(b"commit %d\0" % len(body) + body).hexdigest()


class BlobStore:
    """Content-addressed blobs (key: git blob sha1), in memory or as files under ``root``."""

    def __init__(self, root: Path | None = None) -> None:
        self._root = root
        self._mem: dict[str, bytes] = {}
        self._sizes: dict[str, int] = {}
        self._sha256: dict[str, str] = {}
        self._lock = threading.Lock()
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)

    def _path(self, oid: str) -> Path:
        assert self._root is not None
        return self._root / oid[:2] / oid

    def put(self, data: bytes) -> str:
        """Store ``data`` (idempotent) and return its oid."""
        oid = git_blob_oid(data)
        with self._lock:
            self._sizes[oid] = len(data)
            self._sha256[hashlib.sha256(data).hexdigest()] = oid
            if self._root is None:
                self._mem[oid] = data
                return oid
            path = self._path(oid)
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".tmp{threading.get_ident()}")
                tmp.write_bytes(data)
                os.replace(tmp, path)
        return oid

    def get(self, oid: str) -> bytes:
        if self._root is None:
            return self._mem[oid]
        return self._path(oid).read_bytes()

    def size(self, oid: str) -> int:
        if oid not in self._sizes:
            self._sizes[oid] = len(self._mem[oid]) if self._root is None else self._path(oid).stat().st_size
        return self._sizes[oid]

    def by_sha256(self, sha256: str) -> str | None:
        """Oid of a stored blob whose sha256 is ``sha256`` (used for ``lfsFile`` commit lines)."""
        if sha256 not in self._sha256 and self._root is not None:
            for path in self._root.glob("??/*"):
                if len(path.name) == 40:
                    self._sha256.setdefault(hashlib.sha256(path.read_bytes()).hexdigest(), path.name)
        return self._sha256.get(sha256)


@dataclass(frozen=True)
class AddFile:
    """Add or replace ``path`` with ``data``."""

    path: str
    data: bytes


@dataclass(frozen=True)
class AddBlob:
    """Add or replace ``path`` with an already stored blob."""

    path: str
    oid: str


@dataclass(frozen=True)
class DeleteFile:
    path: str


@dataclass(frozen=True)
class DeleteFolder:
    path: str


Operation = AddFile | AddBlob | DeleteFile | DeleteFolder


class HubStore:
    """All repositories of one server; thread-safe, persisted to ``root/state.json`` when ``root`` is set."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root
        self.blobs = BlobStore(root / "blobs" if root is not None else None)
        self.lock = threading.RLock()
        self._repos: dict[tuple[str, str], Repo] = {}
        if root is not None and (root / "state.json").exists():
            state = json.loads((root / "state.json").read_text())
            for data in state["repos"]:
                repo = Repo.from_json(data)
                self._repos[(repo.repo_type, repo.repo_id)] = repo

    def _save(self) -> None:
        if self.root is None:
            return
        state = {"repos": [r.to_json() for r in self._repos.values()]}
        tmp = self.root / "state.json.tmp"
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.root / "state.json")

    def get(self, repo_type: str, repo_id: str) -> Repo:
        """The repo, or 404 ``RepoNotFound``."""
        with self.lock:
            repo = self._repos.get((repo_type, repo_id))
        if repo is None:
            raise repo_not_found(repo_id)
        return repo

    def create_repo(
        self, repo_type: str, repo_id: str, private: bool = False, author: str = "system"
    ) -> Repo:
        """Create a repo with an initial commit holding ``.gitattributes``; 409 if it exists."""
        if repo_type not in REPO_TYPES:
            raise HubError(400, f"Invalid repo type: {repo_type!r}")
        parts = repo_id.split("/")
        if len(parts) != 2 or not all(_NAME_RE.match(p) for p in parts) or "--" in repo_id:
            raise HubError(400, f"Invalid repo id: {repo_id!r}")
        with self.lock:
            if (repo_type, repo_id) in self._repos:
                raise HubError(409, f"You already created this {repo_type} repo: {repo_id}")
            repo = Repo(repo_type=repo_type, repo_id=repo_id, private=private, created_at=utcnow())
            files = {".gitattributes": self.blobs.put(GITATTRIBUTES)}
            repo.branches[DEFAULT_BRANCH] = self._add_commit(
                repo, None, files, "initial commit", "", author
            ).oid
            self._repos[(repo_type, repo_id)] = repo
            self._save()
            return repo

    def delete_repo(self, repo_type: str, repo_id: str) -> None:
        with self.lock:
            self.get(repo_type, repo_id)
            del self._repos[(repo_type, repo_id)]
            self._save()

    def update_settings(
        self, repo: Repo, private: bool | None = None, gated: str | bool | None = None
    ) -> None:
        with self.lock:
            if private is not None:
                repo.private = private
            if gated is not None:
                repo.gated = gated
            self._save()

    def _add_commit(
        self, repo: Repo, parent: str | None, files: dict[str, str], title: str, message: str, author: str
    ) -> Commit:
        date = utcnow()
        oid = commit_oid(tree_oid(files), parent, author, date, title, message)
        commit = Commit(oid, parent, dict(sorted(files.items())), title, message, author, date)
        repo.commits.setdefault(oid, commit)
        return repo.commits[oid]

    def commit(
        self,
        repo: Repo,
        branch: str,
        operations: Iterable[Operation],
        title: str,
        message: str = "",
        author: str = "system",
        parent_commit: str | None = None,
    ) -> Commit:
        """Apply ``operations`` in order on top of ``branch`` as one new commit; all-or-nothing.

        Raises 404 ``RevisionNotFound`` (unknown branch), 412 (``parent_commit`` is not the branch head),
        404 ``EntryNotFound`` (deleting a missing path), 400 (invalid path, file/folder clash, unknown blob).
        """
        operations = list(operations)
        # Store blobs first (outside the lock, idempotent): an aborted commit only leaves unreferenced blobs.
        staged: list[AddBlob | DeleteFile | DeleteFolder] = []
        for op in operations:
            if isinstance(op, AddFile):
                staged.append(AddBlob(validate_path(op.path), self.blobs.put(op.data)))
            else:
                validate_path(op.path.rstrip("/") if isinstance(op, DeleteFolder) else op.path)
                staged.append(op)
        with self.lock:
            if branch not in repo.branches:
                raise HubError(
                    404,
                    f"Invalid rev id: {branch} (commits can only be made on a branch)",
                    "RevisionNotFound",
                )
            head = repo.commits[repo.branches[branch]]
            if parent_commit is not None and not head.oid.startswith(parent_commit.lower()):
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            files = dict(head.files)
            for op in staged:
                if isinstance(op, AddBlob):
                    try:
                        self.blobs.size(op.oid)
                    except (KeyError, OSError):
                        raise HubError(400, f"Unknown blob {op.oid} for {op.path}") from None
                    files[op.path] = op.oid
                elif isinstance(op, DeleteFile):
                    if files.pop(op.path, None) is None:
                        raise HubError(
                            404, f"A file with this name doesn't exist: {op.path}", "EntryNotFound"
                        )
                else:
                    folder = op.path.rstrip("/")
                    removed = [p for p in files if p.startswith(folder + "/")]
                    if not removed:
                        raise HubError(
                            404, f"A folder with this name doesn't exist: {folder}", "EntryNotFound"
                        )
                    for p in removed:
                        del files[p]
            for path in files:
                for parent in PurePosixPath(path).parents:
                    if str(parent) in files:
                        raise HubError(400, f"Path conflict: {path!r} is inside file {str(parent)!r}")
            commit = self._add_commit(repo, head.oid, files, title, message, author)
            repo.branches[branch] = commit.oid
            try:
                self._save()
            except BaseException:
                repo.branches[branch] = head.oid  # keep memory and disk in agreement
                raise
            return commit

    def squash(self, repo: Repo, branch: str, title: str, author: str = "system") -> Commit:
        """Replace the history of ``branch`` by one root commit with the same files."""
        with self.lock:
            if branch not in repo.branches:
                raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            head = repo.commits[repo.branches[branch]]
            commit = self._add_commit(repo, None, dict(head.files), title, "", author)
            repo.branches[branch] = commit.oid
            self._save()
            return commit

    def create_ref(self, repo: Repo, kind: str, name: str, revision: str) -> None:
        """Create branch or tag ``name`` at ``revision``; 409 if the name is taken, 400 if invalid."""
        if not name or name.startswith(("refs/", "/")) or ".." in name or name.endswith(("/", ".lock")):
            raise HubError(400, f"Invalid reference name: {name!r}")
        with self.lock:
            target = repo.resolve(revision).oid
            if name in repo.branches or name in repo.tags:
                raise HubError(409, f"Reference already exists: {name}")
            (repo.branches if kind == "branch" else repo.tags)[name] = target
            self._save()

    def delete_ref(self, repo: Repo, kind: str, name: str) -> None:
        """Delete branch or tag ``name``; 404 ``RevisionNotFound`` if unknown, 403 for the default branch."""
        refs = repo.branches if kind == "branch" else repo.tags
        with self.lock:
            if name not in refs:
                raise HubError(404, f"Invalid rev id: {name}", "RevisionNotFound")
            if kind == "branch" and name == DEFAULT_BRANCH:
                raise HubError(403, "Cannot delete the default branch")
            del refs[name]
            self._save()
