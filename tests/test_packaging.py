"""Real distributions: the kexue-zoo wheel ships registry.yaml; a copied example plugin installs and loads.

These build wheels with pip (no network: --no-build-isolation with hatchling from the dev extra)
and install them with --target into a temporary folder put on PYTHONPATH of a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def pip(*args: str, cwd: Path | None = None) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args]
    subprocess.run(cmd, check=True, cwd=cwd, capture_output=True, text=True)


def build_and_install(src: Path, tmp: Path) -> Path:
    wheels, site = tmp / "wheels", tmp / "site"
    pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(src))
    pip("install", "--no-deps", "--target", str(site), *map(str, wheels.glob("*.whl")))
    return site


def run_py(code: str, site: Path, cwd: Path, **env: str) -> str:
    environ = {**os.environ, "PYTHONPATH": str(site), "ZOO_PROGRESS": "0", **env}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=environ)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_wheel_ships_the_catalog(tmp_path):
    site = build_and_install(ROOT, tmp_path)
    wheel = next((tmp_path / "wheels").glob("kexue_zoo-*.whl"))
    assert "zoo/registry.yaml" in zipfile.ZipFile(wheel).namelist()
    out = run_py(
        "import zoo, zoo.catalog as c; print(zoo.__file__); print(c.default_path()); "
        "print(len(c.load().entries))",
        site,
        cwd=tmp_path,
    )
    module_file, catalog_path, n = out.split()
    assert module_file.startswith(str(site)) and catalog_path == str(site / "zoo" / "registry.yaml")
    assert int(n) >= 1


def copy_example(dest: Path, new: str) -> Path:
    """What the plugin-authoring guide tells a user to do: copy plugins/example and rename it."""
    shutil.copytree(ROOT / "plugins" / "example", dest, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    (dest / "zoo_example").rename(dest / f"zoo_{new}")
    for path in dest.rglob("*"):
        if path.is_file() and path.suffix in {".py", ".toml", ".md"}:
            text = path.read_text().replace("zoo_example", f"zoo_{new}").replace("zoo-example", f"zoo-{new}")
            text = text.replace("example = ", f"{new} = ")
            if new != "clone":  # "clone" keeps the entry names: a duplicate of the example's
                text = text.replace('"example-', f'"{new}-').replace('"spiral-mlp"', f'"{new}-spiral"')
            path.write_text(text)
    return dest


def test_a_third_party_plugin_is_discovered_and_loads(tmp_path):
    site = build_and_install(copy_example(tmp_path / "zoo-hello", "hello"), tmp_path)
    code = (
        "import json, zoo\n"
        "info = {p.name: p.to_dict() for p in zoo.plugins()}\n"
        "print(json.dumps(info['hello']))\n"
        "m = zoo.load('hello-mlp', hidden=16)\n"
        "print(type(m).__module__, m.net[0].out_features)\n"
    )
    out = run_py(code, site, cwd=tmp_path).splitlines()
    info = json.loads(out[0])
    assert info["distribution"] == "zoo-hello" and info["error"] is None
    assert set(info["entries"]) == {"hello-mlp", "hello-temperature", "hello-signsgd"}
    assert out[1] == "zoo_hello.model 16"
    listing = run_py("from zoo.cli import main; main(['list', '--plugin', 'hello'])", site, cwd=tmp_path)
    assert "hello-mlp" in listing


def test_a_plugin_that_duplicates_names_is_reported_and_others_keep_working(tmp_path):
    site = build_and_install(copy_example(tmp_path / "zoo-clone", "clone"), tmp_path)
    code = (
        "import json, zoo\n"
        "print(json.dumps({p.name: p.error for p in zoo.plugins()}))\n"
        "zoo.load('example-mlp')"
    )
    errors = json.loads(run_py(code, site, cwd=tmp_path))
    assert errors["example"] is None
    assert (
        "'clone'" in errors["clone"] and "'example'" in errors["clone"] and "example-mlp" in errors["clone"]
    )
