"""zoo.datasets: the no-unpickling numpy reader, IDX files, and the embedded MNIST."""

from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from zoo.datasets import UnsupportedPickle, load_mnist, read_idx, read_numpy_pickle
from zoo.errors import ZooError


def test_reads_what_numpy_pickles_without_unpickling():
    a = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    b = np.array([5, -1, 2**40], dtype=np.int64)
    c = np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3))
    obj = ((a, b), [c, a], {"k": b}, None, True)
    out = read_numpy_pickle(bytearray(pickle.dumps(obj, protocol=2)))
    (ra, rb), (rc, ra2), rd, none, flag = out
    assert torch.equal(ra, torch.from_numpy(a)) and torch.equal(rb, torch.from_numpy(b))
    assert torch.equal(rc, torch.from_numpy(np.ascontiguousarray(c))) and torch.equal(ra2, ra)
    assert torch.equal(rd["k"], rb) and none is None and flag is True


class Boom:
    def __reduce__(self):
        return (print, ("pwned",))


def test_refuses_any_other_global_and_runs_nothing(capsys):
    with pytest.raises(UnsupportedPickle, match=r"refusing global __builtin__\.print"):
        read_numpy_pickle(pickle.dumps([np.zeros(2), Boom()], protocol=2))
    assert capsys.readouterr().out == ""


def test_refuses_new_protocols_and_truncation():
    with pytest.raises(UnsupportedPickle, match="protocols 0-2"):
        read_numpy_pickle(pickle.dumps(np.zeros(2), protocol=4))
    data = pickle.dumps(np.zeros(100), protocol=2)
    with pytest.raises(UnsupportedPickle, match="truncated"):
        read_numpy_pickle(data[: len(data) // 2])


def write_idx(path, array: np.ndarray, gz: bool = False) -> None:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)


def test_idx_files_big_endian_gzip_and_errors(tmp_path):
    ints = np.array([[1, -2], [70000, 3]], dtype=">i4")
    write_idx(tmp_path / "a.idx", ints, gz=True)
    assert read_idx(tmp_path / "a.idx").tolist() == [[1, -2], [70000, 3]]
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01")
    with pytest.raises(ZooError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 10) + b"abc")
    with pytest.raises(ZooError, match="truncated"):
        read_idx(tmp_path / "short")


def test_mnist_from_an_idx_folder_is_split_50k_style(tmp_path):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (10_050, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 10_050).astype(np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", train, gz=True)
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", train[:7])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels[:7])
    m = load_mnist(tmp_path)
    assert m.train[0].shape == (50, 784) and m.valid[0].shape == (10_000, 784) and m.test[0].shape == (7, 784)
    assert torch.equal(m.valid[0][-1], torch.from_numpy(train[-1].reshape(-1)).float() / 255)
    assert m.test[1].dtype == torch.int64 and torch.equal(m.test[1], torch.from_numpy(labels[:7]).long())
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(ZooError, match="has no t10k-images-idx3-ubyte"):
        load_mnist(tmp_path)


def test_embedded_mnist():
    m = load_mnist()
    sizes = [(len(x), len(y)) for x, y in (m.train, m.valid, m.test)]
    assert sizes == [(50_000, 50_000), (10_000, 10_000), (10_000, 10_000)]
    x, y = m.test
    assert x.dtype == torch.float32 and x.shape[1] == 784 and x.min() >= 0 and x.max() <= 1
    # The well-known first test labels of MNIST, and every digit about equally frequent.
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert torch.bincount(m.train[1]).min() > 4000 and load_mnist() is m
