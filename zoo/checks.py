"""Argument checks for factories: one clear ``ValueError`` naming the argument and its valid range.

Plugins call these in constructors so that a bad value fails at ``zoo.load`` with a message
instead of building something silently wrong (a NaN weight, a model without its bottleneck) or
failing later inside torch::

    from zoo.checks import check_int, check_number

    self.beta = check_number(beta, "beta", low=0.0)          # finite and >= 0
    self.latent = check_int(latent, "latent", low=1)         # an integer >= 1

``check_folder`` does the same for a folder a user names (``--data``, a checkpoint): the error says
whether the path is missing or not a folder, and what was expected there.

No torch import: usable from any module.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

__all__ = ["check_folder", "check_int", "check_number"]


def _range(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high}"
    return "finite"


def check_number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a float if it is a finite real number within the bounds, else a ValueError.

    ``low_open`` / ``high_open`` exclude the bound itself (``low=0, low_open=True`` means ``> 0``).
    Booleans are refused (``True`` is not a temperature).
    """
    where = _range(low, high, low_open, high_open)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and math.isfinite(value):
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if not (too_low or too_high):
            return float(value)
    bounds = "" if where == "finite" else f" {where}"
    raise ValueError(f"{name} must be a finite number{bounds}; got {value!r}")


def check_int(value: Any, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` if it is an integer (not a bool) within ``[low, high]``, else a ValueError."""
    integer = isinstance(value, int) and not isinstance(value, bool)
    if integer and (low is None or value >= low) and (high is None or value <= high):
        return int(value)
    where = _range(low, high, False, False)
    raise ValueError(f"{name} must be an integer{'' if where == 'finite' else ' ' + where}; got {value!r}")


def check_folder(path: str | os.PathLike[str], expected: str, error: type[ZooError] = ZooError) -> Path:
    """``path`` (``~`` expanded) if it is a folder; else ``error("PATH is not a folder (it does not exist):
    EXPECTED")``, naming the path as the user gave it."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        what = "is not a folder" + ("" if folder.exists() else " (it does not exist)")
        raise error(f"{path} {what}: {expected}")
    return folder
