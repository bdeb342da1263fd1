"""Seeding every random generator a run draws from: Python's, NumPy's and torch's."""

from __future__ import annotations

import random


def seed_everything(seed: int) -> None:
    """Seed ``random``, NumPy's global generator (if installed) and torch's (CPU and every CUDA device)."""
    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:
        pass
