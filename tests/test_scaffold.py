"""``zoo new-plugin``: the written distribution builds, installs, is discovered clean, and passes its own
tests unchanged (the loopback Hub included)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from zoo.cli import main
from zoo.scaffold import new_plugin


def _installed(src: Path, tmp: Path) -> Path:
    """Build a wheel of ``src`` (no network: hatchling from the dev extra) and install it into a folder."""
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    wheels, site = tmp / "wheels", tmp / "site"
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", wheels, src], check=True)
    subprocess.run([*pip, "install", "--no-deps", "--target", site, *wheels.glob("*.whl")], check=True)
    return site


def test_a_new_plugin_installs_and_passes_its_own_tests(tmp_path):
    dest = new_plugin("highway", tmp_path, sampler=True, optimizer=True)
    assert dest == tmp_path / "zoo-highway"
    site = _installed(dest, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(site), "ZOO_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=dest, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "5 passed" in tests.stdout  # model, recipe, Hub round trip, sampler, optimizer
    check = subprocess.run(
        [sys.executable, "-m", "zoo.cli", "plugins", "--check"],
        env={**env, "ZOO_PLUGINS": "highway"}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert "highway-mlp, highway-temperature, highway-signsgd" in check.stdout
    assert "0 problem(s) found by --check" in check.stdout  # light hooks, every target imports


def test_only_what_was_asked_is_written(tmp_path):
    dest = new_plugin("tiny", tmp_path)
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        "pyproject.toml",
        "tests/conftest.py",
        "tests/test_tiny.py",
        "zoo_tiny/__init__.py",
        "zoo_tiny/model.py",
        "zoo_tiny/recipe.py",
    ]
    hooks = (dest / "zoo_tiny" / "__init__.py").read_text()
    assert "import torch" not in hooks and "zoo_register_samplers" not in hooks
    assert 'tiny = "zoo_tiny"' in (dest / "pyproject.toml").read_text()


def test_bad_names_and_existing_folders_are_refused_through_the_cli(tmp_path, capsys):
    assert main(["new-plugin", "High Way", "--dir", str(tmp_path)]) == 1
    assert "plugin name 'High Way': use lower-case letters" in capsys.readouterr().err
    assert main(["new-plugin", "my-net", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'zoo-my-net'}" in out and "zoo_my_net/__init__.py" in out
    (tmp_path / "zoo-my-net" / "README.md").write_text("mine")
    assert main(["new-plugin", "my-net", "--dir", str(tmp_path)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "zoo-my-net" / "README.md").read_text() == "mine"  # nothing overwritten
