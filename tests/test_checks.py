"""zoo.checks: argument checks that name the argument and its valid range."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from zoo.checks import check_int, check_number


@pytest.mark.parametrize(
    ("value", "bounds", "expected"),
    [
        (0.5, {"low": 0.0, "high": 1.0}, 0.5),
        (0, {"low": 0.0}, 0.0),
        (1, {"low": 0.0, "high": 1.0, "low_open": True}, 1.0),
        (-3, {}, -3.0),
    ],
)
def test_numbers_in_range_come_back_as_floats(value, bounds, expected):
    out = check_number(value, "x", **bounds)
    assert out == expected and type(out) is float


@pytest.mark.parametrize(
    ("value", "bounds", "message"),
    [
        (math.nan, {"low": 0.0}, r"^rate must be a finite number >= 0\.0; got nan$"),
        (math.inf, {}, r"^rate must be a finite number; got inf$"),
        (-math.inf, {"high": 1}, r"^rate must be a finite number <= 1; got -inf$"),
        (0.0, {"low": 0.0, "high": 1.0, "low_open": True}, r"in \(0\.0, 1\.0\]; got 0\.0$"),
        (1.0, {"low": 0.0, "high": 1.0, "high_open": True}, r"in \[0\.0, 1\.0\); got 1\.0$"),
        (-1e-9, {"low": 0.0}, r">= 0\.0; got -1e-09$"),
        (True, {}, r"got True$"),
        ("0.1", {}, r"got '0\.1'$"),
        (None, {}, r"got None$"),
    ],
)
def test_bad_numbers_name_the_argument_and_the_range(value, bounds, message):
    with pytest.raises(ValueError, match=message):
        check_number(value, "rate", **bounds)


def test_integers():
    assert check_int(3, "k", low=1) == 3
    assert check_int(0, "k", low=0, high=0) == 0
    for bad, message in [
        (0, r"^k must be an integer >= 1; got 0$"),
        (2.0, r"got 2\.0$"),
        (True, r"got True$"),
    ]:
        with pytest.raises(ValueError, match=message):
            check_int(bad, "k", low=1)
    with pytest.raises(ValueError, match=r"^k must be an integer in \[1, 3\]; got 4$"):
        check_int(4, "k", low=1, high=3)


def test_the_plugin_guide_example_runs_and_its_quoted_error_is_true():
    page = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text()
    section = page.split("## Checking arguments", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    exec(compile(code, "docs/plugins.md", "exec"), {})
    quoted = re.search(r"#   ValueError: (.*)", code)
    assert quoted is not None
    with pytest.raises(ValueError) as info:
        check_number(math.nan, "beta", low=0.0)
    assert str(info.value) == quoted.group(1)
