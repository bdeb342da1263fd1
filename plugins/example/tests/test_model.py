import pytest
import torch

import zoo


def test_shapes_and_depth():
    m = zoo.load("example-mlp", hidden=16, depth=2, num_classes=5)
    assert m(torch.randn(7, 2)).shape == (7, 5)
    assert sum(isinstance(layer, torch.nn.Linear) for layer in m.net) == 3
    with pytest.raises(ValueError, match="depth must be >= 1"):
        zoo.load("example-mlp", depth=0)
