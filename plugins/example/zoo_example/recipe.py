"""The recipe: train the MLP on two spirals with an optimizer from the registry."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

import zoo
from zoo_example import DATA_FORMAT
from zoo_example.data import read_csv, two_spirals

PRESETS = {
    "cpu": {"n_train": 2000, "steps": 1500, "batch": 128},
    "smoke": {"n_train": 400, "steps": 150, "batch": 64},
}


TEST_SEED = 10_000  # the embedded test spirals: the same for every run, and never a training seed's points
SPLIT_SEED = 0  # the shuffle that holds out 20% of a user's CSV: the same in training and in evaluation


def split_csv(path: Path) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """``(train, held_out)`` of a CSV: 80% / 20% of its rows after a fixed shuffle."""
    x, y = read_csv(path)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(SPLIT_SEED))
    cut = int(0.8 * len(x))
    return (x[perm[:cut]], y[perm[:cut]]), (x[perm[cut:]], y[perm[cut:]])


def test_set(data: Path | None) -> tuple[torch.Tensor, torch.Tensor]:
    """What training reports and ``zoo eval`` scores: the CSV's held-out 20%, or 1000 test spirals."""
    return split_csv(data)[1] if data is not None else two_spirals(1000, seed=TEST_SEED)


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(-1) == y).float().mean().item()


class SpiralRecipe:
    summary = "two spirals (2000 generated points; --data takes a CSV x1,x2,label); metric: accuracy"
    data_format = DATA_FORMAT
    distributed = True  # zoo train --nproc N: DDP through zoo.TrainLoop
    resumable = True  # --checkpoint-every / --resume

    def train(self, config: zoo.TrainConfig) -> zoo.TrainResult:
        if config.preset not in PRESETS:
            raise zoo.RecipeError(f"unknown preset {config.preset!r}; choose one of {sorted(PRESETS)}")
        p = PRESETS[config.preset]
        if config.data is not None:
            x_tr, y_tr = split_csv(config.data)[0]
        else:
            x_tr, y_tr = two_spirals(p["n_train"], seed=config.seed)
        x_te, y_te = test_set(config.data)
        model = zoo.load(config.name, **config.model_args).to(config.device)
        # Plugins use each other through the registry, never by importing each other.
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, p["steps"])
        g = torch.Generator().manual_seed(config.seed)
        loop = zoo.TrainLoop(config)
        forward = loop.parallel(model)
        state = {"model": model, "optimizer": opt, "scheduler": sched, "generator": g}
        model.train()
        for _ in loop.steps(p["steps"], state, desc=f"train {config.name}"):
            idx = loop.shard(torch.randint(len(x_tr), (p["batch"],), generator=g))
            loss = F.cross_entropy(forward(x_tr[idx]), y_tr[idx])
            opt.zero_grad()
            loop.backward(loss)
            opt.step()
            sched.step()
        model.eval()
        return zoo.TrainResult(
            model=model,
            metrics={"accuracy": accuracy(model, x_te, y_te)},
            example_inputs=(x_te[:16],),
            notes="the example plugin: no article number to compare with",
        )

    def evaluate(self, model: torch.nn.Module, data: Path | None, device: str = "cpu") -> dict[str, float]:
        x, y = test_set(data)
        return {"accuracy": accuracy(model, x.to(device), y.to(device))}
