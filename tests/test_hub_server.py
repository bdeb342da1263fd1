"""End-to-end tests of zoo.testing.HubServer with the real huggingface_hub client (HF_HUB_DISABLE_XET=1).

Fixtures ``hub_server`` / ``hub_env`` come from ``zoo.testing.pytest_plugin`` (enabled in conftest.py).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    constants,
    create_repo,
    hf_hub_download,
    model_info,
    snapshot_download,
    upload_folder,
)
from huggingface_hub.errors import (
    BadRequestError,
    EntryNotFoundError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from zoo.testing import TEST_TOKEN, TEST_USER, HubServer, hub_offline, hub_server_env
from zoo.testing.hub_store import git_blob_oid

REPO = f"{TEST_USER}/demo"


def _folder(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def _read(path: str) -> bytes:
    return Path(path).read_bytes()


@pytest.fixture
def seeded(hub_env: HubServer) -> dict[str, str]:
    """REPO with commit c1 (tag v1), c2 on main, and branch "dev/x" (a slash!) branched from v1 plus c3."""
    server = hub_env
    server.create_repo(REPO)
    c1 = server.commit(REPO, {"config.json": b'{"v": 1}', "weights/w.bin": b"\x01" * 64}, message="v1")
    HfApi().create_tag(REPO, tag="v1", revision=c1)
    HfApi().create_branch(REPO, branch="dev/x", revision="v1")
    c2 = server.commit(REPO, {"config.json": b'{"v": 2}'}, message="v2")
    c3 = server.commit(REPO, {"extra.txt": b"dev"}, revision="dev/x", message="dev")
    return {"c1": c1, "c2": c2, "c3": c3}


def test_create_repo_and_exist_ok(hub_env: HubServer) -> None:
    url = create_repo(REPO)
    assert url.repo_id == REPO and url.endpoint == hub_env.url
    with pytest.raises(HfHubHTTPError) as err:
        create_repo(REPO)
    assert err.value.response.status_code == 409
    assert create_repo(REPO, exist_ok=True).repo_id == REPO
    assert create_repo("other", private=True).repo_id == f"{TEST_USER}/other"  # default namespace = whoami
    assert hub_env.list_files(REPO) == {".gitattributes": hub_env.list_files(REPO)[".gitattributes"]}
    HfApi().delete_repo(REPO)
    assert not hub_env.repo_exists(REPO)
    with pytest.raises(RepositoryNotFoundError):
        HfApi().delete_repo(REPO)


def test_upload_folder_push_again_and_delete(hub_env: HubServer, tmp_path: Path) -> None:
    create_repo(REPO)
    files = {"config.json": b"{}", "model.safetensors": b"\x00" * 1000, "sub/readme.txt": b"hello"}
    info = upload_folder(
        repo_id=REPO, folder_path=_folder(tmp_path / "v1", files), commit_message="first push"
    )
    assert len(hub_env.history(REPO)) == 2  # initial commit + exactly one commit for the 3 files
    assert info.oid == hub_env.history(REPO)[0]
    assert {k: v for k, v in hub_env.list_files(REPO).items() if k != ".gitattributes"} == files

    second = HfApi().create_commit(
        REPO,
        operations=[
            CommitOperationAdd("config.json", b'{"a": 1}'),
            CommitOperationDelete("sub/readme.txt"),
        ],
        commit_message="second push",
        commit_description="details",
    )
    assert hub_env.history(REPO) == [second.oid, info.oid, hub_env.history(REPO)[-1]]
    remote = hub_env.list_files(REPO)
    assert remote["config.json"] == b'{"a": 1}' and "sub/readme.txt" not in remote
    assert hub_env.list_files(REPO, info.oid)["sub/readme.txt"] == b"hello"  # history is kept
    assert sorted(HfApi().list_repo_files(REPO)) == [".gitattributes", "config.json", "model.safetensors"]
    commits = HfApi().list_repo_commits(REPO)
    assert [c.title for c in commits] == ["second push", "first push", "initial commit"]
    assert commits[0].message == "details" and commits[0].commit_id == second.oid

    # Unchanged content: the client sees the remote oids in /preupload and skips the commit.
    upload_folder(
        repo_id=REPO, folder_path=_folder(tmp_path / "v1", {}), allow_patterns=["model.safetensors"]
    )
    assert hub_env.history(REPO)[0] == second.oid


def test_downloads_by_branch_tag_and_sha(seeded: dict[str, str], tmp_path: Path) -> None:
    c1, c2, c3 = seeded["c1"], seeded["c2"], seeded["c3"]
    assert _read(hf_hub_download(REPO, "config.json")) == b'{"v": 2}'
    assert _read(hf_hub_download(REPO, "config.json", revision="v1")) == b'{"v": 1}'
    assert _read(hf_hub_download(REPO, "config.json", revision=c1)) == b'{"v": 1}'
    assert _read(hf_hub_download(REPO, "extra.txt", revision="dev/x")) == b"dev"
    assert _read(hf_hub_download(REPO, "weights/w.bin", revision=c2)) == b"\x01" * 64

    snap = Path(snapshot_download(REPO, revision="v1"))
    assert snap.name == c1
    assert sorted(str(p.relative_to(snap)) for p in snap.rglob("*") if p.is_file()) == [
        ".gitattributes",
        "config.json",
        "weights/w.bin",
    ]
    local = Path(snapshot_download(REPO, revision="dev/x", local_dir=tmp_path / "dev"))
    assert (local / "extra.txt").read_bytes() == b"dev"

    api = HfApi()
    refs = api.list_repo_refs(REPO)
    assert {b.name: b.target_commit for b in refs.branches} == {"main": c2, "dev/x": c3}
    assert [(t.name, t.ref, t.target_commit) for t in refs.tags] == [("v1", "refs/tags/v1", c1)]
    assert model_info(REPO, revision="v1").sha == c1
    info = model_info(REPO)
    assert info.sha == c2 and info.private is False and info.last_modified is not None
    assert sorted(s.rfilename for s in info.siblings or []) == [
        ".gitattributes",
        "config.json",
        "weights/w.bin",
    ]
    assert [c.commit_id for c in api.list_repo_commits(REPO, revision="dev/x")][:2] == [c3, c1]
    assert sorted(api.list_repo_files(REPO, revision="dev/x")) == [
        ".gitattributes",
        "config.json",
        "extra.txt",
        "weights/w.bin",
    ]
    entries = {e.path: e for e in api.list_repo_tree(REPO, recursive=True)}
    assert set(entries) == {".gitattributes", "config.json", "weights", "weights/w.bin"}
    assert entries["config.json"].blob_id == git_blob_oid(b'{"v": 2}')  # type: ignore[union-attr]
    assert [e.path for e in api.get_paths_info(REPO, ["weights", "missing.txt"])] == ["weights"]

    api.delete_tag(REPO, tag="v1")
    api.delete_branch(REPO, branch="dev/x")
    refs = api.list_repo_refs(REPO)
    assert [b.name for b in refs.branches] == ["main"] and refs.tags == []


def test_client_errors(seeded: dict[str, str], hub_env: HubServer) -> None:
    api = HfApi()
    with pytest.raises(RepositoryNotFoundError):
        model_info(f"{TEST_USER}/missing")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(f"{TEST_USER}/missing", "config.json")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(REPO, "config.json", revision="no-such-branch")
    with pytest.raises(RevisionNotFoundError):
        model_info(REPO, revision="no-such-branch")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(REPO, "missing.txt")
    with pytest.raises(RevisionNotFoundError):
        api.delete_tag(REPO, tag="nope")
    with pytest.raises(HfHubHTTPError) as conflict:
        api.create_branch(REPO, branch="dev/x")
    assert conflict.value.response.status_code == 409
    api.create_branch(REPO, branch="dev/x", exist_ok=True)

    before = hub_env.history(REPO)
    # One bad operation (deleting a missing file) rejects the whole commit, including the addition before it.
    with pytest.raises(EntryNotFoundError):
        api.create_commit(
            REPO,
            operations=[CommitOperationAdd("new.txt", b"x"), CommitOperationDelete("missing.txt")],
            commit_message="broken",
        )
    with pytest.raises(HfHubHTTPError) as stale:
        api.upload_file(
            path_or_fileobj=b"x", path_in_repo="new.txt", repo_id=REPO, parent_commit=seeded["c1"]
        )
    assert stale.value.response.status_code == 412
    with pytest.raises(BadRequestError, match="create_pr"):
        api.upload_file(path_or_fileobj=b"x", path_in_repo="new.txt", repo_id=REPO, create_pr=True)
    assert hub_env.history(REPO) == before
    api.upload_file(
        path_or_fileobj=b"x", path_in_repo="new.txt", repo_id=REPO, parent_commit=seeded["c2"][:7]
    )


def test_private_repo_needs_the_token(hub_env: HubServer, tmp_path: Path) -> None:
    create_repo(REPO, private=True)
    HfApi().upload_file(path_or_fileobj=b"secret", path_in_repo="s.txt", repo_id=REPO)
    assert model_info(REPO).private is True
    assert _read(hf_hub_download(REPO, "s.txt")) == b"secret"  # HF_TOKEN from the fixture
    with pytest.raises(RepositoryNotFoundError):
        model_info(REPO, token="hf_wrong")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(REPO, "s.txt", token="hf_wrong", cache_dir=tmp_path / "fresh")  # (cache would answer)
    with pytest.raises(HfHubHTTPError) as err:
        HfApi(token="hf_wrong").create_repo(f"{TEST_USER}/public")
    assert err.value.response.status_code == 401
    assert hub_env.token == TEST_TOKEN


def test_failed_commit_leaves_remote_unchanged_and_retry_succeeds(hub_env: HubServer, tmp_path: Path) -> None:
    create_repo(REPO)
    folder = _folder(tmp_path, {"a.txt": b"A", "b.txt": b"B"})
    before_files, before_history = hub_env.list_files(REPO), hub_env.history(REPO)
    hub_env.fail_next("POST", f"/api/models/{REPO}/commit/", status=500)
    with pytest.raises(HfHubHTTPError) as err:
        upload_folder(repo_id=REPO, folder_path=folder)
    assert err.value.response.status_code == 500
    assert hub_env.list_files(REPO) == before_files and hub_env.history(REPO) == before_history

    # A malformed NDJSON body (valid first lines, broken last line) is rejected as a whole.
    body = b'{"key": "header", "value": {"summary": "x"}}\n{"key": "file", "value": {"path": "c.txt", '
    body += b'"content": "Qw==", "encoding": "base64"}}\n{"key": "file", "value": {"path": "d.txt"'
    request = urllib.request.Request(
        f"{hub_env.url}/api/models/{REPO}/commit/main",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {TEST_TOKEN}", "Content-Type": "application/x-ndjson"},
    )
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.urlopen(request, timeout=10)
    assert bad.value.code == 400
    assert hub_env.history(REPO) == before_history

    upload_folder(repo_id=REPO, folder_path=folder)  # the retry goes through
    assert hub_env.list_files(REPO)["b.txt"] == b"B" and len(hub_env.history(REPO)) == 2
    assert ("POST", f"/api/models/{REPO}/commit/main") in hub_env.request_log


def test_resolve_headers_and_ranges(seeded: dict[str, str], hub_env: HubServer) -> None:
    url = f"{hub_env.url}/{REPO}/resolve/v1/weights/w.bin"
    with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=10) as resp:
        assert resp.headers["X-Repo-Commit"] == seeded["c1"]
        assert resp.headers["ETag"] == f'"{git_blob_oid(bytes([1]) * 64)}"'
        assert resp.headers["Content-Length"] == "64"
    with urllib.request.urlopen(
        urllib.request.Request(url, headers={"Range": "bytes=60-"}), timeout=10
    ) as resp:
        assert resp.status == 206 and resp.read() == b"\x01" * 4
        assert resp.headers["Content-Range"] == "bytes 60-63/64"
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(urllib.request.Request(url, headers={"Range": "bytes=64-"}), timeout=10)
    assert err.value.code == 416
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{hub_env.url}/{REPO}/resolve/main/nope.txt", timeout=10)
    assert missing.value.headers["X-Error-Code"] == "EntryNotFound"
    assert missing.value.headers["X-Repo-Commit"] == seeded["c2"]


def test_cache_serves_fetched_revisions_after_server_stops(
    seeded: dict[str, str], hub_env: HubServer
) -> None:
    main_path = hf_hub_download(REPO, "config.json")
    snap = snapshot_download(REPO, revision="v1")
    by_sha = hf_hub_download(REPO, "config.json", revision=seeded["c1"])
    hub_env.stop()

    with hub_offline():
        assert constants.HF_HUB_OFFLINE is True
        assert hf_hub_download(REPO, "config.json") == main_path
        assert _read(hf_hub_download(REPO, "config.json", revision=seeded["c1"])) == b'{"v": 1}'
        assert hf_hub_download(REPO, "config.json", revision=seeded["c1"]) == by_sha
        assert snapshot_download(REPO, revision="v1") == snap
        with pytest.raises(LocalEntryNotFoundError):
            hf_hub_download(REPO, "extra.txt", revision="dev/x")  # never fetched
    assert constants.HF_HUB_OFFLINE is False
    # Server gone but not offline: the connection error also falls back to the cache.
    assert hf_hub_download(REPO, "config.json") == main_path


def test_env_is_patched_and_restored(tmp_path: Path) -> None:
    from huggingface_hub import hf_api

    before = (constants.ENDPOINT, constants.HF_HUB_CACHE, hf_api.api.endpoint)
    with HubServer() as server, hub_server_env(server, tmp_path / "home"):
        assert constants.ENDPOINT == hf_api.api.endpoint == server.url
        assert Path(constants.HF_HUB_CACHE) == tmp_path / "home" / "hub"
        assert constants.HUGGINGFACE_CO_URL_TEMPLATE.startswith(server.url)
        assert constants.HF_HUB_DISABLE_XET is True
        create_repo("someone/else")  # no token configured on this server: anything goes
        assert HfApi().whoami()["name"] == TEST_USER
    assert (constants.ENDPOINT, constants.HF_HUB_CACHE, hf_api.api.endpoint) == before
    with pytest.raises(RuntimeError):
        _ = server.url


def test_on_disk_store_survives_restart(tmp_path: Path) -> None:
    with HubServer(root=tmp_path / "hub") as server:
        server.create_repo("org/data", repo_type="dataset")
        oid = server.commit("org/data", {"train.csv": b"a,b\n"}, repo_type="dataset")
    with HubServer(root=tmp_path / "hub") as again, hub_server_env(again, tmp_path / "home"):
        assert again.history("org/data", repo_type="dataset")[0] == oid
        path = hf_hub_download("org/data", "train.csv", repo_type="dataset")
        assert _read(path) == b"a,b\n"
        assert HfApi().dataset_info("org/data").sha == oid
