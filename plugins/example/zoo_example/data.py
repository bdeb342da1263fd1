"""Data: the two-spirals toy set (embedded default) and a CSV reader (``x1,x2,label``)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import torch


def two_spirals(n: int, noise: float = 0.05, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points (half per class) on two interleaved spirals: ``x (n, 2)``, ``y (n,)`` int64."""
    g = torch.Generator().manual_seed(seed)
    half = n // 2
    t = torch.sqrt(torch.rand(half, generator=g)) * 3 * math.pi  # angle; sqrt spreads points evenly
    arm = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1) / (3 * math.pi)
    x = torch.cat([arm, -arm]) + noise * torch.randn(2 * half, 2, generator=g)
    y = torch.cat([torch.zeros(half, dtype=torch.long), torch.ones(half, dtype=torch.long)])
    return x, y


def read_csv(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Read ``x1,x2,label`` rows (a header line is required). Raises ValueError on bad rows."""
    with Path(path).open(newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"x1", "x2", "label"} <= set(reader.fieldnames):
            raise ValueError(
                f"{path}: expected a CSV header with columns x1,x2,label; got {reader.fieldnames}"
            )
        xs, ys = [], []
        for i, row in enumerate(reader, start=2):
            try:
                xs.append([float(row["x1"]), float(row["x2"])])
                ys.append(int(row["label"]))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{i}: bad row {row}: {exc}") from exc
    if not xs:
        raise ValueError(f"{path}: no rows")
    return torch.tensor(xs), torch.tensor(ys)
