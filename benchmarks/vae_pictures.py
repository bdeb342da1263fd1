"""A PNG of VAE samples and reconstructions, one row per model (shared by the VAE benchmarks)."""

from __future__ import annotations

from pathlib import Path

import torch

from zoo.datasets import tile


def samples_and_reconstructions(
    rows: dict[str, tuple[torch.Tensor, torch.Tensor]], test_x: torch.Tensor, path: Path
) -> None:
    """``rows[title] = (samples (64, 784), reconstructions of test_x (32, 784))``, pixel probabilities."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 2, figsize=(8, 4.2 * len(rows)), squeeze=False)
    for (title, (samples, recon)), (ax_s, ax_r) in zip(rows.items(), axes, strict=True):
        pairs = torch.stack([test_x, recon], 1).reshape(-1, 784)  # original, reconstruction, ...
        ax_s.imshow(tile(samples, 8), cmap="gray_r")
        ax_s.set_title(f"{title}: samples from the prior", fontsize=9)
        ax_r.imshow(tile(pairs, 8), cmap="gray_r")
        ax_r.set_title(f"{title}: test image | reconstruction", fontsize=9)
        for ax in (ax_s, ax_r):
            ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
