"""A Hugging Face Hub-compatible HTTP server for offline end-to-end tests of the real ``huggingface_hub``.

Example::

    from zoo.testing import HubServer, hub_server_env

    with HubServer(token="hf_test") as server, hub_server_env(server, tmp_path / "hf_home"):
        from huggingface_hub import HfApi, hf_hub_download

        HfApi().create_repo("test-user/demo")
        HfApi().upload_file(path_or_fileobj=b"hi", path_in_repo="a.txt", repo_id="test-user/demo")
        assert open(hf_hub_download("test-user/demo", "a.txt")).read() == "hi"

Standard library only: a ``ThreadingHTTPServer`` bound to 127.0.0.1 on a free port, run in a daemon thread.
Endpoints live in :mod:`zoo.testing.hub_api`, storage in :mod:`zoo.testing.hub_store`.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from .hub_api import HubApi, Request, Response
from .hub_store import DEFAULT_BRANCH, AddFile, DeleteFile, HubError, HubStore, Operation

__all__ = ["TEST_TOKEN", "TEST_USER", "HubServer", "apply_hub_env", "hub_offline", "hub_server_env"]

logger = logging.getLogger(__name__)

TEST_USER = "test-user"
TEST_TOKEN = "hf_zoo_test_token"
_MAX_BODY = 1 << 30  # refuse request bodies over 1 GiB


@dataclass
class _Fault:
    method: str
    path_substring: str
    status: int
    remaining: int
    code: str | None
    disconnect: bool = False


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer tracking connections and their (daemon) threads, so that :meth:`HubServer.stop`
    can close keep-alive connections and join every thread."""

    daemon_threads = True
    allow_reuse_address = True  # a restarted HubServer takes its old port back (its sockets may linger)

    def __init__(self, hub: HubServer, port: int = 0) -> None:
        self.hub = hub
        self._connections: set[socket.socket] = set()
        self._conn_threads: list[threading.Thread] = []
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="zoo-hub-server-connection",
            daemon=True,
        )
        with self._connections_lock:
            self._connections.add(request)
            self._conn_threads = [t for t in self._conn_threads if t.is_alive()] + [thread]
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Usually a client gone mid-response (or stop() closing the socket): not worth a traceback.
        logger.debug("hub-server: connection error from %s", client_address, exc_info=True)

    def close_connections(self, timeout: float = 5.0) -> None:
        """Shut down open connections and join their threads (at most ``timeout`` seconds overall)."""
        with self._connections_lock:
            connections, threads = list(self._connections), list(self._conn_threads)
        for conn in connections:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # idle keep-alive connections are dropped after this many seconds
    server: _HTTPServer

    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("hub-server %s - " + format, self.address_string(), *args)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline(100).split(b";")[0].strip() or b"0", 16)
                total += size
                if total > _MAX_BODY:
                    raise HubError(413, "Request body too large")
                if size == 0:
                    self.rfile.readline(100)
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(100)
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            raise HubError(413, "Request body too large")
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        hub = self.server.hub
        raw_path, _, query = self.path.partition("?")
        path = unquote(raw_path)
        hub._record(self.command, path)
        try:
            body = self._read_body()
        except (HubError, ValueError) as exc:
            self.close_connection = True
            status = exc.status if isinstance(exc, HubError) else 400
            self._send(Response.error(HubError(status, f"Unreadable request body: {exc}")))
            return
        fault = hub._take_fault(self.command, raw_path, path)
        if fault is not None and fault.disconnect:
            self.close_connection = True  # the server "dies" mid-request: the body was read, no answer
            with suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault is not None:
            self._send(
                Response.error(HubError(fault.status, "Injected failure (HubServer.fail_next)", fault.code))
            )
            return
        req = Request(
            method=self.command,
            segments=[unquote(s) for s in raw_path.strip("/").split("/")],
            query=parse_qs(query),
            body=body,
            headers={k.lower(): v for k, v in self.headers.items()},
        )
        try:
            response = hub._api.handle(req)
        except Exception as exc:  # a server bug must not kill the thread or hang the client
            logger.exception("hub-server: error while handling %s %s", self.command, self.path)
            response = Response.error(HubError(500, f"Internal error in test HubServer: {exc!r}"))
        self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        headers = dict(response.headers)
        headers.setdefault("Content-Length", str(len(response.body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)


class HubServer:
    """Hub-compatible HTTP server on ``127.0.0.1`` for tests (models, datasets and spaces repos).

    Args:
        root: keep blobs and repo state on disk under this directory (a restarted server on the same ``root``
            sees the same repos); ``None`` keeps everything in memory.
        token: if set, private repos and all writes require ``Authorization: Bearer <token>`` (401 otherwise,
            with ``X-Error-Code: RepoNotFound`` for repos, like the Hub).
        user: name of the fake account (``whoami``, default namespace, commit author).

    New repos start with an "initial commit" holding ``.gitattributes``, as on the Hub.
    """

    def __init__(self, root: Path | None = None, token: str | None = None, *, user: str = TEST_USER) -> None:
        self.token = token
        self.user = user
        self._store = HubStore(Path(root) if root is not None else None)
        self._api = HubApi(self._store, lambda: self.url, token, user)
        self._httpd: _HTTPServer | None = None
        self._port = 0  # after the first start: the port a restart binds again
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self.request_log: list[tuple[str, str]] = []
        """``(method, unquoted path without the query string)`` of every request received, in order."""

    # --------------------------------------------------------------------------------------------- lifecycle
    def start(self) -> HubServer:
        """Bind 127.0.0.1 on a free port and serve from a daemon thread. Returns ``self``.

        A server started again after :meth:`stop` binds the same port, so a client configured for it
        (``HF_ENDPOINT``) reaches it again: a Hub that went down and came back.
        """
        if self._httpd is not None:
            return self
        self._httpd = _HTTPServer(self, self._port)
        self._port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="zoo-hub-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and join the server thread (idempotent)."""
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=10)

    @property
    def url(self) -> str:
        """Base url, e.g. ``http://127.0.0.1:54321`` (the server must be started)."""
        if self._httpd is None:
            raise RuntimeError("HubServer is not running: call start() first")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------- fault injection
    def fail_next(
        self,
        method: str,
        path_substring: str,
        status: int = 500,
        count: int = 1,
        *,
        code: str | None = None,
        disconnect: bool = False,
    ) -> None:
        """Make the next ``count`` requests whose method is ``method`` (``"*"`` = any) and whose path contains
        ``path_substring`` (raw or unquoted) fail with ``status`` (and ``X-Error-Code: code`` if given) before
        anything is processed. Example: ``fail_next("POST", "/commit/")`` makes the next commit fail.

        With ``disconnect=True`` the server reads the request and closes the connection without an answer
        (a server dying mid-request) instead of sending ``status``.

        Note that the client retries some calls on 5xx (e.g. preupload, paginated listings) but not commits.
        """
        with self._lock:
            self._faults.append(_Fault(method.upper(), path_substring, status, count, code, disconnect))

    def _take_fault(self, method: str, raw_path: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method in ("*", method) and (
                    fault.path_substring in raw_path or fault.path_substring in path
                ):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _record(self, method: str, path: str) -> None:
        with self._lock:
            self.request_log.append((method, path))

    # --------------------------------------------------------------------------------- direct helpers
    def create_repo(self, repo_id: str, *, repo_type: str = "model", private: bool = False) -> None:
        """Create a repo without going through HTTP."""
        self._store.create_repo(repo_type, repo_id, private, author=self.user)

    def commit(
        self,
        repo_id: str,
        files: Mapping[str, bytes] | None = None,
        *,
        delete: Iterable[str] = (),
        revision: str = DEFAULT_BRANCH,
        message: str = "Commit from test",
        repo_type: str = "model",
    ) -> str:
        """Commit ``files`` (path -> bytes) and deletions on branch ``revision`` directly; returns the oid."""
        ops: list[Operation] = [AddFile(p, d) for p, d in (files or {}).items()]
        ops += [DeleteFile(p) for p in delete]
        repo = self._store.get(repo_type, repo_id)
        return self._store.commit(repo, revision, ops, message, author=self.user).oid

    def list_files(
        self, repo_id: str, revision: str = DEFAULT_BRANCH, *, repo_type: str = "model"
    ) -> dict[str, bytes]:
        """All files of ``repo_id`` at ``revision`` (branch, tag or commit sha) as ``{path: bytes}``."""
        commit = self._store.get(repo_type, repo_id).resolve(revision)
        return {path: self._store.blobs.get(oid) for path, oid in commit.files.items()}

    def refs(self, repo_id: str, *, repo_type: str = "model") -> dict[str, dict[str, str]]:
        """``{"branches": {name: oid}, "tags": {name: oid}}`` of ``repo_id``."""
        repo = self._store.get(repo_type, repo_id)
        with self._store.lock:
            return {"branches": dict(repo.branches), "tags": dict(repo.tags)}

    def history(self, repo_id: str, revision: str = DEFAULT_BRANCH, *, repo_type: str = "model") -> list[str]:
        """Commit oids reachable from ``revision``, newest first."""
        return [c.oid for c in self._store.get(repo_type, repo_id).history(revision)]

    def repo_exists(self, repo_id: str, *, repo_type: str = "model") -> bool:
        try:
            self._store.get(repo_type, repo_id)
        except HubError:
            return False
        return True


# ------------------------------------------------------------------------------------------ environment
class Patcher(Protocol):
    """What :func:`apply_hub_env` needs to patch; ``pytest.MonkeyPatch`` fits."""

    def setenv(self, name: str, value: str, prepend: str | None = None) -> None: ...

    def delenv(self, name: str, raising: bool = True) -> None: ...

    def setattr(self, target: Any, name: str, value: Any, raising: bool = True) -> None: ...


class _Recorder:
    """Minimal MonkeyPatch: records what it changes and restores it (LIFO) in :meth:`undo`."""

    _MISSING = object()

    def __init__(self) -> None:
        self._undo: list[tuple[Any, str, Any]] = []

    def setenv(self, name: str, value: str, prepend: str | None = None) -> None:
        self._undo.append((os.environ, name, os.environ.get(name, self._MISSING)))
        os.environ[name] = value

    def delenv(self, name: str, raising: bool = True) -> None:
        self._undo.append((os.environ, name, os.environ.get(name, self._MISSING)))
        os.environ.pop(name, None)

    def setattr(self, target: Any, name: str, value: Any, raising: bool = True) -> None:
        self._undo.append((target, name, getattr(target, name, self._MISSING)))
        setattr(target, name, value)

    def undo(self) -> None:
        while self._undo:
            target, name, old = self._undo.pop()
            if target is os.environ:
                if old is self._MISSING:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = old
            elif old is self._MISSING:
                delattr(target, name)
            else:
                setattr(target, name, old)


# Env vars that would redirect the client elsewhere (offline mode, other caches, other credentials).
_UNSET_ENV = (
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "HF_ASSETS_CACHE",
    "HUGGINGFACE_ASSETS_CACHE",
    "HF_XET_CACHE",
    "HF_TOKEN_PATH",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_OIDC_RESOURCE",
    "HF_OIDC_ID_TOKEN",
    "HUGGINGFACE_CO_STAGING",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN",
)


def apply_hub_env(
    patcher: Patcher, server: HubServer, cache_dir: str | os.PathLike[str], token: str | None = None
) -> None:
    """Point ``huggingface_hub`` at ``server`` with ``cache_dir`` as ``HF_HOME``, through ``patcher``.

    Sets ``HF_ENDPOINT``, ``HF_HOME``, ``HF_TOKEN`` (``token``, else the server's token, else a dummy),
    ``HF_HUB_DISABLE_XET=1``, ``HF_HUB_DISABLE_TELEMETRY=1`` and unsets offline mode and cache/credential
    overrides. ``huggingface_hub`` reads most of these once, at import, into ``huggingface_hub.constants``
    (and a few modules copy them), so if it is installed those values are patched too.
    """
    home = os.fspath(cache_dir)
    url = server.url
    for name in _UNSET_ENV:
        patcher.delenv(name, raising=False)
    for name, value in {
        "HF_ENDPOINT": url,
        "HF_HOME": home,
        "HF_TOKEN": token or server.token or TEST_TOKEN,
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }.items():
        patcher.setenv(name, value)
    try:
        constants = importlib.import_module("huggingface_hub.constants")
    except ImportError:  # client not installed: env vars are all there is to set
        return
    hub_cache, assets_cache = os.path.join(home, "hub"), os.path.join(home, "assets")
    values: dict[str, Any] = {
        "ENDPOINT": url,
        "HUGGINGFACE_CO_URL_TEMPLATE": url + "/{repo_id}/resolve/{revision}/{filename}",  # used by hf_hub_url
        "HF_URL_HOSTS": frozenset(constants.HF_URL_HOSTS) | {urlsplit(url).hostname},
        "HF_HOME": home,
        "default_cache_path": hub_cache,
        "default_assets_cache_path": assets_cache,
        "HUGGINGFACE_HUB_CACHE": hub_cache,
        "HF_HUB_CACHE": hub_cache,
        "HUGGINGFACE_ASSETS_CACHE": assets_cache,
        "HF_ASSETS_CACHE": assets_cache,
        "HF_XET_CACHE": os.path.join(home, "xet"),
        "HF_TOKEN_PATH": os.path.join(home, "token"),
        "HF_STORED_TOKENS_PATH": os.path.join(home, "stored_tokens"),
        "CHECK_FOR_UPDATE_DONE_PATH": os.path.join(home, ".check_for_update_done"),
        "HF_HUB_OFFLINE": False,
        "HF_HUB_DISABLE_XET": True,
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": False,
    }
    for name, value in values.items():
        if hasattr(constants, name):
            patcher.setattr(constants, name, value)
    # Copies taken at import time: `from ..constants import X` and the module-level `HfApi()` behind the
    # top-level functions (create_repo, upload_folder, model_info, ...), whose endpoint is fixed at import.
    copies = {
        "huggingface_hub.utils._cache_manager": {"HF_HUB_CACHE": hub_cache},
        "huggingface_hub.utils._cache_assets": {"HF_ASSETS_CACHE": assets_cache},
        "huggingface_hub.utils._git_credential": {"ENDPOINT": url},
    }
    for module_name, attrs in copies.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for name, value in attrs.items():
            if hasattr(module, name):
                patcher.setattr(module, name, value)
    hf_api = importlib.import_module("huggingface_hub.hf_api")
    if hasattr(hf_api, "api"):
        patcher.setattr(hf_api.api, "endpoint", url)
        if hasattr(hf_api.api, "_whoami_cache"):
            patcher.setattr(hf_api.api, "_whoami_cache", {})
    http = importlib.import_module("huggingface_hub.utils._http")
    if hasattr(http, "_HUB_ORIGINS"):  # origins trusted with the auth header when following redirects
        parts = urlsplit(url)
        patcher.setattr(
            http, "_HUB_ORIGINS", frozenset(http._HUB_ORIGINS) | {(parts.scheme, parts.hostname, parts.port)}
        )


@contextmanager
def hub_server_env(
    server: HubServer, cache_dir: str | os.PathLike[str], *, token: str | None = None
) -> Iterator[HubServer]:
    """Context manager version of :func:`apply_hub_env`; restores every env var and constant on exit."""
    recorder = _Recorder()
    try:
        apply_hub_env(recorder, server, cache_dir, token)
        yield server
    finally:
        recorder.undo()


def set_hub_offline(patcher: Patcher, offline: bool = True) -> None:
    """Turn ``huggingface_hub`` offline mode on/off (``HF_HUB_OFFLINE`` and its cached constant)."""
    if offline:
        patcher.setenv("HF_HUB_OFFLINE", "1")
    else:
        patcher.delenv("HF_HUB_OFFLINE", raising=False)
    try:
        constants = importlib.import_module("huggingface_hub.constants")
    except ImportError:
        return
    patcher.setattr(constants, "HF_HUB_OFFLINE", offline)


@contextmanager
def hub_offline(offline: bool = True) -> Iterator[None]:
    """Context manager: ``HF_HUB_OFFLINE=1`` (env var and ``huggingface_hub.constants``), restored after."""
    recorder = _Recorder()
    try:
        set_hub_offline(recorder, offline)
        yield
    finally:
        recorder.undo()
