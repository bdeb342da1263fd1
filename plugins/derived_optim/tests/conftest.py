from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def float64():
    """Equivalence tests run in float64 (spec: atol 1e-10)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)
