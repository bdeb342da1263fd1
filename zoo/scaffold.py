"""``zoo new-plugin NAME``: write a complete plugin distribution that installs and passes its own tests.

The result (``zoo-NAME/``) is what ``docs/plugins.md`` describes, with the public API only: a pyproject
with the entry point, a light hooks module, a model and its recipe (train on generated data or a CSV,
accuracy), optionally a sampler and an optimizer, tests that load by name, train, reload and push to the
loopback Hub, and a README. ``pip install -e zoo-NAME`` then ``pytest zoo-NAME/tests``.
"""

from __future__ import annotations

import re
from pathlib import Path

from zoo.errors import ZooError

__all__ = ["NAME_PATTERN", "new_plugin"]

#: plugin names: lower case, start with a letter; "-" becomes "_" in the package name
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,39}")

PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"

[project]
name = "zoo-{name}"
version = "0.1.0"
description = "A kexue-zoo plugin: {name}"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["kexue-zoo"]

[project.optional-dependencies]
test = ["pytest"]

# The one line that makes this a kexue-zoo plugin: an entry point in group "zoo".
[project.entry-points.zoo]
{pkg} = "zoo_{pkg}"

[tool.hatch.build.targets.wheel]
packages = ["zoo_{pkg}"]
"""

HOOKS = '''\
"""Plugin {name}: hook implementations only.

kexue-zoo imports this module whenever it discovers plugins (even for ``zoo list``), so it stays light: no
torch import here; factories are "module:attribute" strings, imported when somebody builds them.
"""

from zoo import hookimpl

DATA_FORMAT = (
    "a CSV file with the header x1,x2,label (label 0 or 1); a fixed shuffle holds out 20% of the rows, "
    "which training reports and zoo eval scores"
)


@hookimpl
def zoo_register_models(register):
    register(
        "{name}-mlp",
        "zoo_{pkg}.model:Classifier",
        summary="an MLP classifier of 2-d points (replace with your model)",
        defaults={{"hidden": 32}},
        tags={{"wide": {{"defaults": {{"hidden": 128}}, "summary": "a wider variant"}}}},
    )


@hookimpl
def zoo_register_recipes(register):
    register("{name}-mlp", "zoo_{pkg}.recipe:BlobsRecipe", data_format=DATA_FORMAT)
'''

HOOK_SAMPLER = """

@hookimpl
def zoo_register_samplers(register):
    register(
        "{name}-temperature",
        "zoo_{pkg}.sampler:TemperatureSampler",
        summary="sample class ids from logits at a temperature",
        defaults={{"temperature": 1.0}},
    )
"""

HOOK_OPTIMIZER = """

@hookimpl
def zoo_register_optimizers(register):
    register(
        "{name}-signsgd",
        "zoo_{pkg}.optim:SignSGD",
        summary="signSGD: step by the sign of the gradient",
        defaults={{"lr": 0.01}},
    )
"""

MODEL = '''\
"""The model: an MLP classifier of 2-d points."""

from __future__ import annotations

import torch
from torch import nn


class Classifier(nn.Module):
    """``model(x (B, in_features)) -> logits (B, classes)``."""

    def __init__(self, in_features: int = 2, hidden: int = 32, classes: int = 2) -> None:
        super().__init__()
        if hidden < 1:
            raise ValueError(f"hidden must be >= 1; got {{hidden}}")
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.GELU(), nn.Linear(hidden, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
'''

RECIPE = '''\
"""The recipe: ``zoo train {name}-mlp`` / ``zoo eval``: two Gaussian blobs (or a CSV), metric accuracy."""

from __future__ import annotations

import csv
from pathlib import Path

import torch
import torch.nn.functional as F
import zoo

from zoo_{pkg} import DATA_FORMAT

PRESETS = {{"cpu": {{"n_train": 2000, "steps": 400}}, "smoke": {{"n_train": 400, "steps": 60}}}}
TEST_SEED = 10_000  # the embedded test points: the same for every run, never a training seed's


def blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points ``(n, 2)`` around (-1, -1) (label 0) and (1, 1) (label 1), and their labels ``(n,)``."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 2, generator=g) * 0.5 + (2.0 * y[:, None] - 1.0)
    return x, y


def read_csv(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or {{"x1", "x2", "label"}} - set(rows[0]):
        raise zoo.RecipeError(f"{{path}}: expected {{DATA_FORMAT}}")
    x = torch.tensor([[float(r["x1"]), float(r["x2"])] for r in rows])
    return x, torch.tensor([int(r["label"]) for r in rows])


def split(data: Path | None, n_train: int, seed: int) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    """``(train, test)``: the CSV's 80% / 20% after a fixed shuffle, or generated blobs."""
    if data is None:
        return blobs(n_train, seed), blobs(1000, TEST_SEED)
    x, y = read_csv(data)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    cut = int(0.8 * len(x))
    return (x[perm[:cut]], y[perm[:cut]]), (x[perm[cut:]], y[perm[cut:]])


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return (model(x).argmax(-1) == y).float().mean().item()


class BlobsRecipe:
    summary = "two Gaussian blobs (generated; --data takes a CSV x1,x2,label); metric: accuracy"
    data_format = DATA_FORMAT
    presets = PRESETS
    distributed = True  # zoo train --nproc N runs it under DDP, through zoo.TrainLoop
    resumable = True  # --checkpoint-every / --resume

    def train(self, config: zoo.TrainConfig) -> zoo.TrainResult:
        if config.preset not in PRESETS:
            raise zoo.RecipeError(f"unknown preset {{config.preset!r}}; choose one of {{sorted(PRESETS)}}")
        p = PRESETS[config.preset]
        (x, y), (x_test, y_test) = split(config.data, p["n_train"], config.seed)
        model = zoo.load(config.name, **config.model_args).to(config.device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        g = torch.Generator().manual_seed(config.seed)
        loop = zoo.TrainLoop(config)  # the process group, --checkpoint-every and --resume
        forward = loop.parallel(model)  # DDP with several processes, the model itself in one
        state = {{"model": model, "optimizer": opt, "generator": g}}  # what a training state holds
        model.train()
        for _ in loop.steps(p["steps"], state, desc=f"train {{config.name}}"):
            idx = loop.shard(torch.randint(len(x), (64,), generator=g))  # this rank's rows of the batch
            loss = F.cross_entropy(forward(x[idx].to(config.device)), y[idx].to(config.device))
            opt.zero_grad()
            loop.backward(loss)
            opt.step()
        model.eval()
        x_test, y_test = x_test.to(config.device), y_test.to(config.device)
        return zoo.TrainResult(
            model=model, metrics={{"accuracy": accuracy(model, x_test, y_test)}}, example_inputs=(x_test[:8],)
        )

    def evaluate(self, model: torch.nn.Module, data: Path | None, device: str = "cpu") -> dict[str, float]:
        _, (x, y) = split(data, 0, 0)
        return {{"accuracy": accuracy(model, x.to(device), y.to(device))}}
'''

SAMPLER = '''\
"""A sampler: class ids drawn from logits at a temperature."""

from __future__ import annotations

import torch


class TemperatureSampler:
    """``sampler(logits (..., C), generator=None, *, temperature=None) -> ids (...)`` drawn from
    ``softmax(logits / T)``; a temperature given per call wins over the sampler's own."""

    def __init__(self, temperature: float = 1.0) -> None:
        self.temperature = check_temperature(temperature)

    def __call__(
        self,
        logits: torch.Tensor,
        generator: torch.Generator | None = None,
        *,
        temperature: float | None = None,
    ) -> torch.Tensor:
        t = self.temperature if temperature is None else check_temperature(temperature)
        probs = torch.softmax(logits / t, dim=-1)
        flat = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator)
        return flat.reshape(probs.shape[:-1])


def check_temperature(temperature: float) -> float:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0; got {{temperature}}")
    return temperature
'''

OPTIM = '''\
"""An optimizer: signSGD, ``p -= lr * sign(grad)``."""

from __future__ import annotations

import torch


class SignSGD(torch.optim.Optimizer):
    def __init__(self, params, lr: float = 0.01) -> None:
        if not lr > 0:
            raise ValueError(f"lr must be > 0; got {{lr}}")
        super().__init__(params, {{"lr": lr}})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad.sign(), alpha=-group["lr"])
        return loss
'''

CONFTEST = """\
# The core's loopback Hub (a Hub-compatible server on 127.0.0.1, inside the test process): hub_env points
# huggingface_hub at it, so push and pull tests need no network and no token.
from zoo.testing.pytest_plugin import hub_env, hub_server  # noqa: F401
"""

TESTS = '''\
"""Tests of plugin {name}: every entry through ``zoo.load``, as users reach them."""

from __future__ import annotations

import torch
import zoo
from zoo import recipes

from zoo_{pkg}.model import Classifier


def test_the_model_loads_by_name_and_tag():
    model = zoo.load("{name}-mlp", hidden=8)
    assert isinstance(model, Classifier) and model(torch.zeros(3, 2)).shape == (3, 2)
    assert zoo.load("{name}-mlp.wide").net[0].out_features == 128


def test_the_recipe_learns_and_its_checkpoint_scores_the_same(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    record = recipes.train("{name}-mlp", tmp_path / "run", preset="smoke")
    assert record["metrics"]["accuracy"] > 0.9  # the blobs barely overlap; chance is 0.5
    again = recipes.evaluate(str(tmp_path / "run"))
    assert again["metrics"]["accuracy"] == record["metrics"]["accuracy"]


def test_push_and_pull_on_the_loopback_hub(hub_env):
    model = zoo.load("{name}-mlp").eval()
    zoo.push(model, "me/{name}-mlp", tag="v1")
    back = zoo.load("hf-hub:me/{name}-mlp@v1")
    x = torch.randn(4, 2)
    assert torch.equal(model(x), back(x))
'''

TEST_SAMPLER = """

def test_the_sampler_draws_the_argmax_at_a_low_temperature():
    sample = zoo.load("{name}-temperature", temperature=1e-4)
    logits = torch.tensor([[0.0, 3.0, 1.0], [2.0, 0.0, 0.0]])
    assert sample(logits, generator=torch.Generator().manual_seed(0)).tolist() == [1, 0]
    hot = zoo.load("{name}-temperature")  # a temperature given per call wins for that call
    assert hot(logits, generator=torch.Generator().manual_seed(0), temperature=1e-4).tolist() == [1, 0]
"""

TEST_OPTIMIZER = """

def test_the_optimizer_steps_by_the_sign_of_the_gradient():
    w = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
    opt = zoo.load("{name}-signsgd", params=[w], lr=0.5)
    (w * torch.tensor([3.0, -0.1])).sum().backward()
    opt.step()
    assert w.tolist() == [0.5, -0.5]
"""

README = """\
# zoo-{name}

A kexue-zoo plugin, written by `zoo new-plugin {name}`.

| entry | kind | what it is |
|---|---|---|
{rows}

```bash
pip install -e .            # registers the entry point: `zoo plugins` lists {pkg}
zoo train {name}-mlp --preset smoke --out runs/{name}
zoo eval runs/{name}
pytest tests                # loads by name, trains, reloads, pushes to the loopback Hub
```

Replace the model and the recipe with yours; keep `zoo_{pkg}/__init__.py` free of heavy imports
(`zoo plugins --check` reports it).
"""


def new_plugin(
    name: str, directory: str | Path = ".", *, sampler: bool = False, optimizer: bool = False
) -> Path:
    """Write the plugin distribution ``directory/zoo-NAME`` and return its path.

    Refuses an invalid name and an existing destination (nothing of yours is overwritten).
    """
    if not NAME_PATTERN.fullmatch(name):
        raise ZooError(
            f"plugin name {name!r}: use lower-case letters, digits, '-' or '_', starting with a letter "
            "(at most 40 characters), e.g. 'highway'"
        )
    pkg = name.replace("-", "_")
    dest = Path(directory) / f"zoo-{name}"
    if dest.exists():
        raise ZooError(f"{dest} already exists: choose another --dir or name; nothing was written")
    fields = {"name": name, "pkg": pkg}
    hooks = HOOKS + (HOOK_SAMPLER if sampler else "") + (HOOK_OPTIMIZER if optimizer else "")
    tests = TESTS + (TEST_SAMPLER if sampler else "") + (TEST_OPTIMIZER if optimizer else "")
    rows = [f"| `{name}-mlp` (tag `.wide`) | model | an MLP classifier of 2-d points, with a recipe |"]
    if sampler:
        rows.append(f"| `{name}-temperature` | sampler | class ids from logits at a temperature |")
    if optimizer:
        rows.append(f"| `{name}-signsgd` | optimizer | signSGD |")
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README.replace("{rows}", "\n".join(rows)),
        f"zoo_{pkg}/__init__.py": hooks,
        f"zoo_{pkg}/model.py": MODEL,
        f"zoo_{pkg}/recipe.py": RECIPE,
        "tests/conftest.py": CONFTEST,
        f"tests/test_{pkg}.py": tests,
    }
    if sampler:
        files[f"zoo_{pkg}/sampler.py"] = SAMPLER
    if optimizer:
        files[f"zoo_{pkg}/optim.py"] = OPTIM
    staging = dest.with_name(f".{dest.name}.partial")
    if staging.exists():
        raise ZooError(f"{staging} is left from an interrupted run: remove it and retry")
    for relative, template in files.items():
        path = staging / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**fields) if "{" in template else template, encoding="utf-8")
    staging.rename(dest)  # all files or none
    return dest
