"""Data sets shared by several plugins, read offline from packages that ship them (DESIGN.md)."""

from zoo.datasets.mnist import MNIST, load_mnist, read_idx
from zoo.datasets.numpy_pickle import UnsupportedPickle, read_numpy_pickle

__all__ = ["MNIST", "UnsupportedPickle", "load_mnist", "read_idx", "read_numpy_pickle"]
