"""The README.md model card of a checkpoint: YAML front matter plus a short human page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from zoo.building import ModelConfig

LIBRARY_NAME = "kexue-zoo"


def front_matter(config: ModelConfig, results: Mapping[str, Any] | None) -> dict[str, Any]:
    """The card's metadata: library_name, tags, article link and metrics of the run."""
    results = results or {}
    variant = [name_of(config)] if config.tag else []
    plugin = [results["plugin"]] if results.get("plugin") else []
    meta: dict[str, Any] = {
        "library_name": LIBRARY_NAME,
        "tags": [LIBRARY_NAME, config.architecture, *variant, *plugin],
    }
    if results.get("article"):
        meta["article"] = results["article"]
    if results.get("metrics"):
        meta["metrics"] = sorted(results["metrics"])
        meta["zoo_results"] = {k: float(v) for k, v in results["metrics"].items()}
    return meta


def name_of(config: ModelConfig) -> str:
    """``architecture`` or ``architecture.tag`` (the variant the model was built as)."""
    return f"{config.architecture}.{config.tag}" if config.tag else config.architecture


def render(config: ModelConfig, results: Mapping[str, Any] | None = None) -> str:
    """Markdown text of the card for ``config`` and the run ``results`` (``results.json``)."""
    results = results or {}
    meta = yaml.safe_dump(front_matter(config, results), sort_keys=False, allow_unicode=True)
    lines = ["---", meta.rstrip(), "---", "", f"# {name_of(config)}", ""]
    if results.get("summary"):
        lines += [str(results["summary"]), ""]
    if results.get("article"):
        lines += [f"Article: <{results['article']}>", ""]
    metrics = results.get("metrics") or {}
    if metrics:
        reference = results.get("reference") or {}
        lines += ["| metric | this run | article |", "|---|---|---|"]
        for key, value in metrics.items():
            ref = reference.get(key)
            lines.append(f"| {key} | {value:.4g} | {'' if ref is None else f'{ref:.4g}'} |")
        lines.append("")
    if results.get("command"):
        lines += ["Trained with:", "", "```", str(results["command"]), "```", ""]
    lines += [
        "## Load it",
        "",
        "```python",
        "import zoo  # pip install kexue-zoo (and the plugin that provides this architecture)",
        'model = zoo.load("hf-hub:ORG/REPO")  # or zoo.load("local-dir:PATH")',
        "```",
        "",
        f"Architecture `{config.architecture}`"
        + (f" (variant `{config.tag}`)" if config.tag else "")
        + f" with arguments `{dict(config.model_args)}`.",
        "",
    ]
    return "\n".join(lines)
