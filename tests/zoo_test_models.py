"""Small models and fake plugins for the core tests (importable as "zoo_test_models:…")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

BUILT_ON: list[str] = []  # the device type each TiedLM was built on


class TiedLM(nn.Module):
    """Embedding + Linear decoder sharing one weight (tied), plus a persistent buffer."""

    def __init__(self, vocab: int = 11, dim: int = 4) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.decoder = nn.Linear(dim, vocab)
        self.decoder.weight = self.emb.weight
        self.register_buffer("scale", torch.ones(dim))
        BUILT_ON.append(self.emb.weight.device.type)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.emb(ids) * self.scale)


class WithRope(nn.Module):
    """A model with a non-persistent buffer computed in __init__ (not saved)."""

    def __init__(self, dim: int = 4) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self.register_buffer("freqs", torch.arange(dim, dtype=torch.float32) + 1, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x) * self.freqs


@dataclass
class FakeDist:
    name: str
    version: str = "9.9"

    @property
    def metadata(self) -> dict[str, str]:
        return {"Name": self.name}


class FakeEntryPoint:
    """Stands in for importlib.metadata.EntryPoint: ``load()`` returns ``obj`` or raises it."""

    def __init__(self, name: str, obj: Any, dist: str | None = None) -> None:
        self.name, self._obj = name, obj
        self.dist = FakeDist(dist or f"zoo-{name}")

    def load(self) -> Any:
        if isinstance(self._obj, BaseException):
            raise self._obj
        return self._obj
