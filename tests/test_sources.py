"""zoo.sources.call_options: a sampler's per-call options, read from source without importing it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from zoo.sources import call_options


def test_read_from_the_source_of_classes_and_functions(tmp_path, monkeypatch):
    (tmp_path / "mysamplers.py").write_text(
        textwrap.dedent(
            """
            import torch_is_not_imported_when_read  # reading the source does not run it

            class Plain:
                def __init__(self, tau=1.0, hard=False): ...
                def __call__(self, logits, tau=None, *, hard=None, generator=None, out): ...

            class Open:
                def __init__(self, top_k=5, top_p=None): ...
                def __call__(self, logits, generator=None, **overrides): ...

            class Inherits(Plain):
                pass

            def function(x, y, /, scale=2.0, *, seed=None): ...
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert call_options("mysamplers:Plain") == ["tau", "hard", "generator"]  # `out` has no default
    assert call_options("mysamplers:Open") == ["generator", "top_k", "top_p"]  # **overrides: the options
    assert call_options("mysamplers:function") == ["scale", "seed"]
    assert call_options("mysamplers:Inherits") is None  # not in its own source: unknown, not wrong
    assert call_options("mysamplers:Missing") is None
    assert call_options("no_such_module.anywhere:X") is None
    assert "mysamplers" not in sys.modules


def test_objects_are_inspected():
    class Sampler:
        def __init__(self, temperature: float = 1.0) -> None: ...
        def __call__(self, logits: object, **overrides: object) -> None: ...

    assert call_options(Sampler) == ["temperature"]
    assert call_options(lambda logits, tau=1.0: None) == ["tau"]


def test_zoo_info_of_a_sampler_stays_torch_free():
    code = "import sys, zoo; zoo.info('gumbel-softmax'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
