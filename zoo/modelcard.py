"""The README.md model card of a checkpoint: YAML front matter plus a short human page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from zoo.building import ModelConfig

LIBRARY_NAME = "kexue-zoo"
REPO_PLACEHOLDER = "ORG/REPO"  # replaced by the real repo id when the card is pushed
OWNED_KEY = "zoo_files"  # front-matter list of the files a zoo push wrote (a later push replaces them)


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
        f'model = zoo.load("hf-hub:{REPO_PLACEHOLDER}")  # or zoo.load("local-dir:PATH")',
        "```",
        "",
        f"Architecture `{config.architecture}`"
        + (f" (variant `{config.tag}`)" if config.tag else "")
        + f" with arguments `{dict(config.model_args)}`.",
        "",
    ]
    return "\n".join(lines)


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """``(metadata, body)`` of a card; ``({}, text)`` when it has no (readable) YAML front matter."""
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        if end >= 0:
            try:
                meta = yaml.safe_load(text[4:end])
            except yaml.YAMLError:
                meta = None
            if isinstance(meta, dict):
                return meta, text[end + 4 :].lstrip("\n")
    return {}, text


def for_push(text: str, repo_ref: str, owned: list[str]) -> str:
    """The card as pushed: its load snippet names ``repo_ref`` and its front matter lists ``owned``."""
    meta, body = split_front_matter(text)
    meta = {"library_name": LIBRARY_NAME, **meta, OWNED_KEY: sorted(owned)}
    body = body.replace(f"hf-hub:{REPO_PLACEHOLDER}", f"hf-hub:{repo_ref}")
    dumped = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).rstrip()
    return f"---\n{dumped}\n---\n\n{body}"


def owned_files(text: str) -> set[str] | None:
    """The files an earlier zoo push wrote, from a pushed card; ``None`` if the card does not say."""
    owned = split_front_matter(text)[0].get(OWNED_KEY)
    if not isinstance(owned, list) or not all(isinstance(n, str) for n in owned):
        return None
    return set(owned)
