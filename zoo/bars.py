"""Progress bars for long work: tqdm on stderr, off with ``ZOO_PROGRESS=0`` and on every rank but 0."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def progress(iterable: Iterable[T], desc: str = "", total: int | None = None, **kwargs: Any) -> Iterator[T]:
    """A progress bar over ``iterable`` (tqdm on stderr); ``ZOO_PROGRESS=0`` turns bars off, and in a
    distributed run only rank 0 draws one."""
    from tqdm.auto import tqdm

    disable = os.environ.get("ZOO_PROGRESS", "1") == "0" or os.environ.get("RANK", "0") != "0"
    yield from tqdm(iterable, desc=desc, total=total, disable=disable, dynamic_ncols=True, **kwargs)
