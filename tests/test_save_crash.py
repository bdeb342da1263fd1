"""A save survives a crash: the name holds the old or the new complete checkpoint at every instant.

Crashes are simulated in-process (the process "dies" at a chosen call: that call and every later file
operation raise, as if nothing ran after it) and for real (SIGKILL of a child in the middle of a save).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

import zoo
from zoo import atomic, hookimpl
from zoo.errors import CheckpointError


class ModelsPlugin:
    @hookimpl
    def zoo_register_models(self, register):
        register(
            "linear", "torch.nn:Linear", summary="nn.Linear", defaults={"in_features": 3, "out_features": 2}
        )


@pytest.fixture(autouse=True)
def models(use_host, make_host):
    use_host(make_host(models=ModelsPlugin()))


def filled(value: float) -> torch.nn.Module:
    model = zoo.load("linear")
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(value)
    return model


def loaded_value(dest: Path) -> float:
    """The constant every weight of the checkpoint at ``dest`` holds (a complete, consistent checkpoint)."""
    model = zoo.load(f"local-dir:{dest}")
    values = torch.unique(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert len(values) == 1, f"mixed weights: {values}"
    return float(values[0])


class Crash(BaseException):
    """The process died here: nothing after it runs."""


class Killer:
    """Make the ``n``-th call of a function die, and every file operation after it die too."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.dead = False
        self.mp = monkeypatch

    def arm(self, target: str, n: int) -> None:
        module_name, _, attr = target.rpartition(".")
        module = {"os": os, "shutil": shutil, "atomic": atomic}.get(module_name) or __import__(module_name)
        real = getattr(module, attr)
        calls = {"n": 0}

        def wrapper(*args, **kwargs):
            calls["n"] += 1
            if self.dead or calls["n"] == n:
                self.dead = True
                raise Crash(target)
            return real(*args, **kwargs)

        self.mp.setattr(module, attr, wrapper)
        for name in ("replace", "rename", "rmdir", "unlink"):  # a dead process changes nothing more
            if (module_name, attr) != ("os", name):
                self._deaden(os, name)
        if (module_name, attr) != ("shutil", "rmtree"):
            self._deaden(shutil, "rmtree")

    def _deaden(self, module, name):
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            if self.dead:
                raise Crash(name)
            return real(*args, **kwargs)

        self.mp.setattr(module, name, wrapper)


CRASH_POINTS = [
    ("huggingface_hub.save_torch_state_dict", 1),  # while writing the weights
    ("os.fsync", 1),  # before the data is on disk
    ("os.fsync", 4),
    ("atomic.exchange", 1),  # at the swap (the atomic exchange)
    ("os.replace", 1),  # the two renames of the old scheme (main before issue 12)
    ("os.replace", 2),
    ("shutil.rmtree", 1),  # after the swap, deleting the old copy
]


@pytest.mark.parametrize(("target", "n"), CRASH_POINTS)
def test_a_crash_at_any_step_leaves_old_or_new_and_the_next_save_cleans_up(tmp_path, monkeypatch, target, n):
    dest = tmp_path / "ck"
    zoo.save(filled(1.0), dest)
    killer = Killer(monkeypatch)
    killer.arm(target, n)
    new = filled(2.0)
    with contextlib.suppress(Crash):
        zoo.save(new, dest)
    monkeypatch.undo()
    assert loaded_value(dest) in (1.0, 2.0)  # the name is a complete checkpoint, old or new
    zoo.save(filled(3.0), dest)
    assert loaded_value(dest) == 3.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]  # leftovers of the crash are gone


def test_a_crash_during_a_first_save_leaves_nothing_that_the_next_save_keeps(tmp_path, monkeypatch):
    killer = Killer(monkeypatch)
    killer.arm("huggingface_hub.save_torch_state_dict", 1)
    with pytest.raises(Crash):
        zoo.save(filled(1.0), tmp_path / "ck")
    monkeypatch.undo()
    zoo.save(filled(2.0), tmp_path / "ck")
    assert loaded_value(tmp_path / "ck") == 2.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]


def test_without_an_atomic_exchange_a_failed_rename_restores_the_old(tmp_path, monkeypatch):
    """Windows / NFS fallback: two renames; an error between them puts the old folder back."""
    dest = tmp_path / "ck"
    zoo.save(filled(1.0), dest)
    monkeypatch.setattr(atomic, "exchange", lambda a, b: False)
    real, calls = os.replace, []

    def second_fails(a, b):
        calls.append((a, b))
        if len(calls) == 2:
            raise OSError("injected")
        return real(a, b)

    monkeypatch.setattr(os, "replace", second_fails)
    with pytest.raises(OSError, match="injected"):
        zoo.save(filled(2.0), dest)
    assert loaded_value(dest) == 1.0
    monkeypatch.setattr(os, "replace", real)
    zoo.save(filled(3.0), dest)
    assert loaded_value(dest) == 3.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]


def test_data_is_fsynced_before_the_swap(tmp_path, monkeypatch):
    dest = tmp_path / "ck"
    zoo.save(filled(1.0), dest)
    synced: set[int] = set()
    real = os.fsync

    def record(fd):
        synced.add(os.fstat(fd).st_ino)
        return real(fd)

    monkeypatch.setattr(os, "fsync", record)
    zoo.save(filled(2.0), dest)
    files = [p for p in dest.iterdir()]
    assert {p.stat().st_ino for p in files} <= synced  # every file
    assert dest.stat().st_ino in synced  # the folder's entries
    assert tmp_path.stat().st_ino in synced  # the rename itself


def test_new_folders_and_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        dest = zoo.save(filled(1.0), tmp_path / "ck")
    finally:
        os.umask(old)
    assert dest.stat().st_mode & 0o777 == 0o750
    assert {p.stat().st_mode & 0o777 for p in dest.iterdir()} == {0o640}


def test_a_users_symlink_is_kept_and_the_folder_it_points_to_is_replaced(tmp_path):
    real = tmp_path / "store" / "run"
    link = tmp_path / "run"
    zoo.save(filled(1.0), real)
    link.symlink_to(real)
    zoo.save(filled(2.0), link)
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert loaded_value(link) == 2.0 and loaded_value(real) == 2.0
    # a dangling link: the checkpoint is written where it points
    dangling = tmp_path / "later"
    dangling.symlink_to(tmp_path / "store" / "later")
    zoo.save(filled(3.0), dangling)
    assert dangling.is_symlink() and loaded_value(tmp_path / "store" / "later") == 3.0


def test_leftovers_of_crashed_saves_are_cleaned_but_not_those_of_a_live_save(tmp_path):
    dest = tmp_path / "ck"
    zoo.save(filled(1.0), dest)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
        dead_pid = int(dead.stdout)
        for name in (".ck.tmp-a1b2c3", ".ck.old-x9", f".ck.tmp-{dead_pid}-zz", f".ck.tmp-{sleeper.pid}-live"):
            (tmp_path / name).mkdir()
            (tmp_path / name / "model.safetensors").write_bytes(b"partial")
        (tmp_path / ".other.tmp-1").mkdir()  # another checkpoint's: not ours to touch
        zoo.save(filled(2.0), dest)
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            f".ck.tmp-{sleeper.pid}-live",
            ".other.tmp-1",
            "ck",
        ]
    finally:
        sleeper.kill()
        sleeper.wait()


def test_an_unwritable_destination_gives_a_named_error_and_keeps_the_old(tmp_path, monkeypatch):
    dest = tmp_path / "ro" / "ck"
    zoo.save(filled(1.0), dest)

    def denied(*args, **kwargs):  # a read-only folder (chmod does not stop root, who runs CI containers)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tempfile.mkdtemp", denied)
    with pytest.raises(CheckpointError, match=r"cannot write .*ck.*Permission denied"):
        zoo.save(filled(2.0), dest)
    monkeypatch.undo()
    assert loaded_value(dest) == 1.0


CHILD = textwrap.dedent(
    """
    import sys, time
    import torch, huggingface_hub, zoo
    from zoo.building import ModelConfig

    real = huggingface_hub.save_torch_state_dict

    def slow(*args, **kwargs):  # a slow disk: the kill lands mid-save
        time.sleep(0.05)
        real(*args, **kwargs)
        time.sleep(0.05)

    huggingface_hub.save_torch_state_dict = slow
    model = torch.nn.Linear(1024, 1024)  # 4 MB of weights
    config = ModelConfig("linear", {"in_features": 1024, "out_features": 1024})
    print("ready", flush=True)
    value = 10.0
    while True:
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(value)
        zoo.save(model, sys.argv[1], config=config)
        print(value, flush=True)
        value += 1.0
    """
)


def test_kill_9_in_the_middle_of_a_save(tmp_path):
    dest = tmp_path / "ck"
    big = zoo.load("linear", in_features=1024, out_features=1024)
    with torch.no_grad():
        for p in big.parameters():
            p.fill_(1.0)
    zoo.save(big, dest)
    env = {**os.environ, "ZOO_PROGRESS": "0"}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(dest)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.6)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    saved = child.stdout.read().split()
    value = loaded_value(dest)
    assert value == 1.0 or value in {float(v) for v in saved} or value == 10.0 + len(saved)
    zoo.save(big, dest)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]
    assert loaded_value(dest) == 1.0


def test_write_text_replaces_a_file_whole_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    atomic.write_text(path, "old")
    monkeypatch.setattr(os, "replace", lambda a, b: (_ for _ in ()).throw(OSError("injected")))
    with pytest.raises(OSError, match="injected"):
        atomic.write_text(path, "new" * 1000)
    monkeypatch.undo()
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]
    atomic.write_text(path, "new")
    assert path.read_text() == "new"
