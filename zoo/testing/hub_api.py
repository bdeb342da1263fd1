"""Endpoints of the Hub-compatible test server: request in, response out, no sockets.

Each ``_ep_*`` method documents what it answers; shapes follow what ``huggingface_hub`` 2.x parses
(``hf_api.py``, ``_commit_api.py``, ``file_download.py``). Errors are :class:`HubError`, sent as the
``X-Error-Code`` / ``X-Error-Message`` headers that ``huggingface_hub.utils.hf_raise_for_status`` maps
to exceptions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from .hub_store import (
    DEFAULT_BRANCH,
    AddBlob,
    AddFile,
    Commit,
    DeleteFile,
    DeleteFolder,
    HubError,
    HubStore,
    Operation,
    Repo,
    iso,
    repo_not_found,
    tree_oid,
)

__all__ = ["HubApi", "Request", "Response"]

_TYPE_BY_PLURAL = {"models": "model", "datasets": "dataset", "spaces": "space"}
_URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass
class Request:
    """A parsed HTTP request: unquoted path segments, query, raw body and (lower-cased) headers."""

    method: str
    segments: list[str]
    query: dict[str, list[str]] = field(default_factory=dict)
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def flag(self, name: str) -> bool:
        return (self.param(name) or "").lower() in ("1", "true", "yes")

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            raise HubError(400, "Request body is not valid JSON") from None

    @property
    def token(self) -> str | None:
        auth = self.headers.get("authorization", "")
        return auth[7:].strip() if auth.lower().startswith("bearer ") else None


@dataclass
class Response:
    """Status, body and extra headers to send (``Content-Length`` is added by the server)."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})

    @classmethod
    def error(cls, err: HubError) -> Response:
        headers = {"Content-Type": "application/json", "X-Error-Message": _header_safe(err.message)}
        if err.code:
            headers["X-Error-Code"] = err.code
        headers.update(err.headers)
        return cls(err.status, json.dumps({"error": err.message, **err.body}).encode(), headers)


def _header_safe(text: str) -> str:
    return text.encode("ascii", "backslashreplace").decode().replace("\r", " ").replace("\n", " ")


class HubApi:
    """Routes requests to endpoint methods over a :class:`HubStore`.

    ``token``: when set, private repos and every write need ``Authorization: Bearer <token>``.
    ``user``: the fake account (``whoami``, default namespace, commit author).
    """

    def __init__(self, store: HubStore, url: Callable[[], str], token: str | None, user: str) -> None:
        self.store = store
        self._url = url
        self.token = token
        self.user = user

    # ----------------------------------------------------------------------------------------------- routing
    def handle(self, req: Request) -> Response:
        """Answer one request; never raises :class:`HubError` (it becomes an error response)."""
        try:
            return self._route(req)
        except HubError as err:
            return Response.error(err)

    def _route(self, req: Request) -> Response:
        s, m = req.segments, req.method
        if s[:1] == ["api"]:
            simple: dict[tuple[str, str], Callable[[Request], Response]] = {
                ("GET", "whoami-v2"): self._ep_whoami,
                ("POST", "repos/create"): self._ep_create_repo,
                ("DELETE", "repos/delete"): self._ep_delete_repo,
                ("POST", "validate-yaml"): self._ep_validate_yaml,
            }
            endpoint = simple.get((m, "/".join(s[1:])))
            if endpoint is not None:
                return endpoint(req)
            if len(s) >= 4 and s[1] in _TYPE_BY_PLURAL:
                return self._route_repo(req, _TYPE_BY_PLURAL[s[1]], f"{s[2]}/{s[3]}", s[4:])
        elif m in ("GET", "HEAD"):
            offset = 1 if s[:1] in (["datasets"], ["spaces"]) else 0
            if len(s) >= offset + 5 and s[offset + 2] == "resolve":
                repo_type = _TYPE_BY_PLURAL[s[0]] if offset else "model"
                return self._ep_resolve(req, repo_type, f"{s[offset]}/{s[offset + 1]}", s[offset + 3 :])
        raise HubError(404, f"Not found: {req.method} /{'/'.join(s)}")

    def _route_repo(self, req: Request, repo_type: str, repo_id: str, rest: list[str]) -> Response:
        m = req.method
        action, args = (rest[0], rest[1:]) if rest else ("", [])
        write = m not in ("GET", "HEAD") and action != "paths-info"  # paths-info is a read sent as POST
        repo = self._repo(req, repo_type, repo_id, write=write)
        arg = "/".join(args)
        if m == "GET" and not rest:
            return self._ep_info(req, repo, DEFAULT_BRANCH)
        routes: dict[tuple[str, str], Callable[[], Response]] = {
            ("GET", "revision"): lambda: self._ep_info(req, repo, arg),
            ("GET", "tree"): lambda: self._ep_tree(req, repo, args[0] if args else DEFAULT_BRANCH, args[1:]),
            ("POST", "paths-info"): lambda: self._ep_paths_info(req, repo, arg or DEFAULT_BRANCH),
            ("GET", "refs"): lambda: self._ep_refs(repo),
            ("GET", "commits"): lambda: self._ep_commits(req, repo, arg or DEFAULT_BRANCH),
            ("POST", "preupload"): lambda: self._ep_preupload(req, repo, arg or DEFAULT_BRANCH),
            ("POST", "commit"): lambda: self._ep_commit(req, repo, arg or DEFAULT_BRANCH),
            ("POST", "tag"): lambda: self._ep_create_tag(req, repo, arg or DEFAULT_BRANCH),
            ("DELETE", "tag"): lambda: self._ep_delete_ref(repo, "tag", arg),
            ("POST", "branch"): lambda: self._ep_create_branch(req, repo, arg),
            ("DELETE", "branch"): lambda: self._ep_delete_ref(repo, "branch", arg),
            ("PUT", "settings"): lambda: self._ep_settings(req, repo),
            ("POST", "super-squash"): lambda: self._ep_super_squash(req, repo, arg or DEFAULT_BRANCH),
        }
        endpoint = routes.get((m, action))
        if endpoint is None:
            raise HubError(404, f"Not found: {m} {action!r} on {repo_type} repo {repo_id}")
        return endpoint()

    # ----------------------------------------------------------------------------------------------- helpers
    def _authorized(self, req: Request) -> bool:
        return self.token is None or req.token == self.token

    def _require_auth(self, req: Request) -> None:
        if not self._authorized(req):
            raise HubError(401, "Invalid credentials in Authorization header")

    def _repo(self, req: Request, repo_type: str, repo_id: str, write: bool = False) -> Repo:
        """The repo if the caller may see (and write) it; 401/404 ``RepoNotFound`` like the Hub otherwise."""
        authorized = self._authorized(req)
        try:
            repo = self.store.get(repo_type, repo_id)
        except HubError:
            raise repo_not_found(repo_id, 404 if authorized else 401) from None
        if not authorized and (repo.private or write):
            raise repo_not_found(repo_id, 401)
        return repo

    def _repo_url(self, repo: Repo) -> str:
        return f"{self._url()}/{_URL_PREFIX[repo.repo_type]}{repo.repo_id}"

    def _file_entry(self, repo: Repo, commit: Commit, path: str, expand: bool) -> dict[str, Any]:
        if path in commit.files:
            oid = commit.files[path]
            entry: dict[str, Any] = {
                "type": "file",
                "oid": oid,
                "size": self.store.blobs.size(oid),
                "path": path,
            }
        else:
            entry = {"type": "directory", "oid": tree_oid(commit.files, path), "size": 0, "path": path}
        if expand:
            last = repo.last_commit(commit.oid, path)
            entry["lastCommit"] = {"id": last.oid, "title": last.title, "date": iso(last.date)}
        return entry

    @staticmethod
    def _folders(files: Mapping[str, str]) -> set[str]:
        return {p.rsplit("/", i)[0] for p in files for i in range(1, p.count("/") + 1)}

    # ------------------------------------------------------------------------------------------- endpoints
    def _ep_whoami(self, req: Request) -> Response:
        """``GET /api/whoami-v2`` -> fake user ``{type, name, email, orgs, auth}``; 401 on bad token."""
        if self.token is not None and req.token != self.token:
            raise HubError(401, "Invalid credentials in Authorization header")
        return Response.json(
            {
                "type": "user",
                "id": hashlib.sha1(self.user.encode()).hexdigest()[:24],
                "name": self.user,
                "fullname": self.user,
                "email": f"{self.user}@example.com",
                "emailVerified": True,
                "isPro": False,
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": "write"}},
            }
        )

    def _ep_create_repo(self, req: Request) -> Response:
        """``POST /api/repos/create`` ``{name, organization, type, private|visibility}`` -> ``{url, id}``.

        409 when the repo exists (what ``create_repo(exist_ok=True)`` expects).
        """
        self._require_auth(req)
        body = req.json()
        name = str(body.get("name") or "")
        org = body.get("organization")
        repo_id = name if "/" in name else f"{org or self.user}/{name}"
        private = bool(body.get("private")) or body.get("visibility") == "private"
        repo_type = str(body.get("type") or "model")
        try:
            repo = self.store.create_repo(repo_type, repo_id, private, author=self.user)
        except HubError as err:
            if err.status == 409:  # the client reads "url" from the 409 body when exist_ok=True
                err.body["url"] = f"{self._url()}/{_URL_PREFIX.get(repo_type, '')}{repo_id}"
            raise
        return Response.json({"url": self._repo_url(repo), "name": repo.repo_id, "id": repo.repo_id})

    def _ep_delete_repo(self, req: Request) -> Response:
        """``DELETE /api/repos/delete`` ``{name, organization, type}`` -> 200 ``{}``, 404 ``RepoNotFound``."""
        body = req.json()
        name = str(body.get("name") or "")
        repo_id = name if "/" in name else f"{body.get('organization') or self.user}/{name}"
        repo = self._repo(req, str(body.get("type") or "model"), repo_id, write=True)
        self.store.delete_repo(repo.repo_type, repo.repo_id)
        return Response.json({})

    def _ep_validate_yaml(self, req: Request) -> Response:
        """``POST /api/validate-yaml`` -> always valid: ``{errors: [], warnings: []}``."""
        return Response.json({"errors": [], "warnings": []})

    def _ep_info(self, req: Request, repo: Repo, revision: str) -> Response:
        """``GET /api/{type}s/{repo}[/revision/{rev}]`` -> ``ModelInfo`` JSON: id, sha, siblings, private, ...

        ``?blobs=true`` adds ``size`` and ``blobId`` to siblings.
        """
        commit = repo.resolve(revision)
        blobs = req.flag("blobs")
        siblings = []
        for path, oid in commit.files.items():
            sibling: dict[str, Any] = {"rfilename": path}
            if blobs:
                sibling.update(size=self.store.blobs.size(oid), blobId=oid)
            siblings.append(sibling)
        info: dict[str, Any] = {
            "_id": hashlib.sha1(f"{repo.repo_type}/{repo.repo_id}".encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": commit.oid,
            "lastModified": iso(commit.date),
            "createdAt": iso(repo.created_at),
            "private": repo.private,
            "gated": repo.gated,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
            "usedStorage": sum(self.store.blobs.size(o) for o in set(commit.files.values())),
        }
        if repo.repo_type == "model":
            info.update(modelId=repo.repo_id, spaces=[])
        return Response.json(info)

    def _ep_tree(self, req: Request, repo: Repo, revision: str, path_parts: list[str]) -> Response:
        """``GET /api/{type}s/{repo}/tree/{rev}[/{path}]`` -> ``[{type, oid, size, path}]`` (one page).

        ``?recursive=true`` lists the whole sub-tree (folders included); ``?expand=true`` adds ``lastCommit``.
        404 ``EntryNotFound`` if ``path`` is not a folder.
        """
        commit = repo.resolve(revision)
        base = "/".join(path_parts).strip("/")
        folders = self._folders(commit.files)
        if base and base not in folders:
            raise HubError(404, f"Folder not found: {base}", "EntryNotFound")
        prefix = base + "/" if base else ""
        recursive, expand = req.flag("recursive"), req.flag("expand")
        paths = [p for p in sorted(folders | set(commit.files)) if p.startswith(prefix)]
        if not recursive:
            paths = [p for p in paths if "/" not in p[len(prefix) :]]
        return Response.json([self._file_entry(repo, commit, p, expand) for p in paths])

    def _ep_paths_info(self, req: Request, repo: Repo, revision: str) -> Response:
        """``POST /api/{type}s/{repo}/paths-info/{rev}`` (form or JSON ``paths``, ``expand``) -> entries of
        the paths that exist (files and folders, shaped like the tree listing); missing paths are skipped."""
        commit = repo.resolve(revision)
        if req.headers.get("content-type", "").startswith("application/json"):
            body = req.json()
            paths, expand = list(body.get("paths") or []), str(body.get("expand")).lower() == "true"
        else:
            form = parse_qs(req.body.decode())
            paths, expand = form.get("paths", []), (form.get("expand") or [""])[0].lower() == "true"
        folders = self._folders(commit.files)
        entries = []
        for path in dict.fromkeys(str(p).strip("/") for p in paths):
            if path in commit.files or path in folders:
                entries.append(self._file_entry(repo, commit, path, expand))
        return Response.json(entries)

    def _ep_refs(self, repo: Repo) -> Response:
        """``GET /api/{type}s/{repo}/refs`` -> ``{branches, tags, converts: [], pullRequests: []}``,
        each ref ``{name, ref, targetCommit}``."""
        return Response.json(
            {
                "branches": [
                    {"name": n, "ref": f"refs/heads/{n}", "targetCommit": o}
                    for n, o in sorted(repo.branches.items())
                ],
                "tags": [
                    {"name": n, "ref": f"refs/tags/{n}", "targetCommit": o}
                    for n, o in sorted(repo.tags.items())
                ],
                "converts": [],
                "pullRequests": [],
            }
        )

    def _ep_commits(self, req: Request, repo: Repo, revision: str) -> Response:
        """``GET /api/{type}s/{repo}/commits/{rev}`` -> ``[{id, title, message, authors: [{user}], date}]``,
        newest first (one page); ``?expand[]=formatted`` adds ``formatted: {title, message}``."""
        formatted = "formatted" in req.query.get("expand[]", [])
        items = []
        for c in repo.history(revision):
            item: dict[str, Any] = {
                "id": c.oid,
                "title": c.title,
                "message": c.message,
                "authors": [{"user": c.author, "avatar": None}],
                "date": iso(c.date),
            }
            if formatted:
                item["formatted"] = {"title": html.escape(c.title), "message": html.escape(c.message)}
            items.append(item)
        return Response.json(items)

    def _ep_preupload(self, req: Request, repo: Repo, revision: str) -> Response:
        """``POST /api/{type}s/{repo}/preupload/{rev}`` -> ``{files: [{path, uploadMode: "regular",
        shouldIgnore: false, oid}], commitOid}``; ``oid`` is the current blob oid of the path, if any,
        so the client skips unchanged files. Refuses ``create_pr``."""
        self._refuse_pr(req)
        commit = repo.resolve(revision)
        files = [
            {
                "path": f["path"],
                "uploadMode": "regular",
                "shouldIgnore": False,
                "oid": commit.files.get(f["path"]),
            }
            for f in req.json().get("files", [])
        ]
        return Response.json({"files": files, "commitOid": commit.oid})

    @staticmethod
    def _refuse_pr(req: Request) -> None:
        if req.flag("create_pr"):
            raise HubError(400, "create_pr is not supported by the test HubServer (no pull requests)")

    def _ep_commit(self, req: Request, repo: Repo, branch: str) -> Response:
        """``POST /api/{type}s/{repo}/commit/{branch}`` with an NDJSON body (``header``, ``file``, ``lfsFile``
        for already stored content, ``deletedFile``, ``deletedFolder``) -> ``{success, commitOid, commitUrl,
        pullRequestUrl: null}``. Atomic: any malformed line or failing operation changes nothing.
        412 on ``parentCommit`` mismatch, 400 for ``create_pr``."""
        self._refuse_pr(req)
        header: dict[str, Any] | None = None
        operations: list[Operation] = []
        for number, line in enumerate(req.body.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                key, value = item["key"], item["value"]
                if key == "header":
                    header = dict(value)
                elif key == "file":
                    operations.append(AddFile(value["path"], _decode_content(value)))
                elif key == "lfsFile":
                    oid = self.store.blobs.by_sha256(str(value["oid"]))
                    if oid is None:
                        raise HubError(
                            400, f"LFS object {value['oid']} not found (upload it as a regular file)"
                        )
                    operations.append(AddBlob(value["path"], oid))
                elif key == "deletedFile":
                    operations.append(DeleteFile(value["path"]))
                elif key == "deletedFolder":
                    operations.append(DeleteFolder(value["path"]))
                else:
                    raise HubError(400, f"Unknown commit operation {key!r} on line {number}")
            except HubError:
                raise
            except (ValueError, KeyError, TypeError, binascii.Error) as exc:
                raise HubError(400, f"Malformed commit payload on line {number}: {exc!r}") from None
        if header is None or not str(header.get("summary") or "").strip():
            raise HubError(
                400, "Malformed commit payload: a header line with a non-empty summary is required"
            )
        parent = header.get("parentCommit")
        commit = self.store.commit(
            repo,
            branch,
            operations,
            title=str(header["summary"]),
            message=str(header.get("description") or ""),
            author=self.user,
            parent_commit=str(parent) if parent else None,
        )
        return Response.json(
            {
                "success": True,
                "commitOid": commit.oid,
                "commitUrl": f"{self._repo_url(repo)}/commit/{commit.oid}",
                "commitMessage": commit.title,
                "hookOutput": "",
                "pullRequestUrl": None,
            }
        )

    def _ep_create_tag(self, req: Request, repo: Repo, revision: str) -> Response:
        """``POST /api/{type}s/{repo}/tag/{rev}`` ``{tag, message}`` -> 200 ``{}``; 409 if the name exists,
        404 ``RevisionNotFound`` if ``rev`` does not resolve."""
        self.store.create_ref(repo, "tag", str(req.json().get("tag") or ""), revision)
        return Response.json({})

    def _ep_create_branch(self, req: Request, repo: Repo, name: str) -> Response:
        """``POST /api/{type}s/{repo}/branch/{name}`` ``{startingPoint?}`` (default: ``main``) -> 200 ``{}``;
        409 if it exists."""
        self.store.create_ref(repo, "branch", name, str(req.json().get("startingPoint") or DEFAULT_BRANCH))
        return Response.json({})

    def _ep_delete_ref(self, repo: Repo, kind: str, name: str) -> Response:
        """``DELETE /api/{type}s/{repo}/{tag|branch}/{name}`` -> 200 ``{}``, 404 ``RevisionNotFound``."""
        self.store.delete_ref(repo, kind, name)
        return Response.json({})

    def _ep_settings(self, req: Request, repo: Repo) -> Response:
        """``PUT /api/{type}s/{repo}/settings`` ``{private|visibility, gated}`` -> 200 ``{}``."""
        body = req.json()
        private = body.get("private")
        if "visibility" in body:
            private = body["visibility"] == "private"
        self.store.update_settings(repo, private=private, gated=body.get("gated"))
        return Response.json({})

    def _ep_super_squash(self, req: Request, repo: Repo, branch: str) -> Response:
        """``POST /api/{type}s/{repo}/super-squash/{branch}`` ``{message}`` -> 200 ``{commitOid}``."""
        commit = self.store.squash(repo, branch, str(req.json().get("message") or "Super-squash"), self.user)
        return Response.json({"commitOid": commit.oid})

    def _ep_resolve(self, req: Request, repo_type: str, repo_id: str, rest: list[str]) -> Response:
        """``HEAD|GET /[{type}s/]{repo}/resolve/{rev}/{path}`` -> the file bytes with ``X-Repo-Commit``,
        ``ETag`` (quoted git blob sha1), ``Content-Length``, ``Accept-Ranges``; honours ``Range`` (206/416).
        404 ``RevisionNotFound`` / ``EntryNotFound`` (the latter with ``X-Repo-Commit``)."""
        repo = self._repo(req, repo_type, repo_id)
        # The revision is one url-encoded segment; tolerate an unencoded "a/b" branch: try longer prefixes.
        commit: Commit | None = None
        path = ""
        for k in range(1, len(rest)):
            try:
                commit, path = repo.resolve("/".join(rest[:k])), "/".join(rest[k:])
                break
            except HubError:
                continue
        if commit is None:
            raise HubError(404, f"Invalid rev id: {rest[0]}", "RevisionNotFound")
        oid = commit.files.get(path)
        if oid is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": commit.oid})
        size = self.store.blobs.size(oid)
        headers = {
            "Content-Type": "application/octet-stream",
            "X-Repo-Commit": commit.oid,
            "ETag": f'"{oid}"',
            "Accept-Ranges": "bytes",
        }
        if req.method == "HEAD":
            return Response(200, b"", {**headers, "Content-Length": str(size)})
        data = self.store.blobs.get(oid)
        range_header = req.headers.get("range")
        if not range_header:
            return Response(200, data, headers)
        match = _RANGE_RE.match(range_header.strip())
        start, end = _parse_range(match, size)
        if start is None or end is None:
            raise HubError(416, "Requested range not satisfiable", None, {"Content-Range": f"bytes */{size}"})
        return Response(
            206, data[start : end + 1], {**headers, "Content-Range": f"bytes {start}-{end}/{size}"}
        )


def _parse_range(match: re.Match[str] | None, size: int) -> tuple[int | None, int | None]:
    """Inclusive ``(start, end)`` of a ``bytes=a-b`` / ``a-`` / ``-n`` range; ``(None, None)`` if invalid."""
    if match is None or (not match.group(1) and not match.group(2)):
        return None, None
    first, last = match.group(1), match.group(2)
    if not first:
        start, end = max(size - int(last), 0), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        return None, None
    return start, end


def _decode_content(value: Mapping[str, Any]) -> bytes:
    encoding = value.get("encoding", "base64")
    if encoding == "base64":
        return base64.b64decode(str(value["content"]), validate=True)
    if encoding in ("utf-8", "utf8"):
        return str(value["content"]).encode()
    raise ValueError(f"unsupported encoding {encoding!r}")
