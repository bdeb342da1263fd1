"""Listing the catalog never imports torch (plugins stay light)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys, zoo
from zoo.cli import main
zoo.list(); zoo.info("example-mlp"); zoo.plugins()
for argv in (["list"], ["list", "--json"], ["info", "example-mlp"], ["plugins", "--json"]):
    assert main(argv) == 0
heavy = ("torch", "numpy", "safetensors", "huggingface_hub", "tokenizers")
heavy = sorted(m for m in heavy if m in sys.modules)
print("HEAVY", heavy)
"""


def test_listing_imports_no_torch():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "HEAVY []"


def test_building_imports_the_factory_on_demand():
    script = "import sys, zoo; zoo.load('example-mlp'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"
