"""What ``--data`` takes, for the data sets the core reads (``zoo.datasets``): one line each, shown by
``zoo info NAME``, ``zoo train NAME --help`` and the readers' errors. Torch-free (plugins' hook modules
import it to register their recipes' ``data_format``)."""

from __future__ import annotations

__all__ = ["MNIST_IDX", "SENTIMENT_BERT4KERAS"]

MNIST_IDX = (
    "a folder of MNIST's IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte "
    "and t10k-labels-idx1-ubyte (each may end in .gz; Fashion-MNIST's have the same names); the last "
    "10,000 training images validate; evaluation reads only the t10k-* pair"
)
SENTIMENT_BERT4KERAS = (
    "a folder of bert4keras sentiment files sentiment.train.data, sentiment.valid.data and "
    "sentiment.test.data (UTF-8 text<TAB>label lines, label 1 = positive, 0 = negative); evaluation reads "
    "only sentiment.test.data and also takes that one file"
)
