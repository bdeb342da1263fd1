"""Draw unlabelled trees (article 6621): gold WSJ trees beside induced or baseline trees, as PNG.

    python benchmarks/plot_on_lstm_trees.py ../shared/data/ptb-trees-sample/wsj_0199_tail.trees.txt \\
        [--first 3] [--max-words 20] [--out docs/img]

For the first ``--first`` trees of a bracketed-tree file (``.mrg`` or one per line) with at most
``--max-words`` words after punctuation and traces are dropped, writes ``on_lstm_trees_<k>.png``: the gold
tree (reference conventions, :func:`zoo_on_lstm.parsing.gold_tree`) above the right-branching baseline,
with its sentence F1. :func:`draw_trees` takes any panels, e.g. a model's induced trees
(``distances_to_tree``) beside the gold tree.

Needs matplotlib (not a dependency of the zoo: ``pip install matplotlib``); it is imported lazily.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo_on_lstm.parsing import (
    Tree,
    gold_tree,
    read_trees,
    right_branching,
    sentence_f1,
    tree_brackets,
    tree_words,
)

ROOT = Path(__file__).resolve().parents[1]


def layout(tree: Tree) -> tuple[list[tuple[float, float]], list[tuple[int, int]], list[str]]:
    """Node positions, parent→child edges and leaf words: leaf ``i`` at ``(i, 0)``; an internal node at
    the mean x of its children and one above its highest child. Node 0 is the root; leaves come first in
    word order among the ``len(words)`` nodes that are words."""
    points: list[tuple[float, float]] = []
    edges: list[tuple[int, int]] = []
    words: list[str] = []

    def place(node: Tree) -> int:
        index = len(points)
        points.append((0.0, 0.0))
        if isinstance(node, str):
            points[index] = (float(len(words)), 0.0)
            words.append(node)
            return index
        children = [place(child) for child in node]
        edges.extend((index, c) for c in children)
        xs = [points[c][0] for c in children]
        points[index] = (sum(xs) / len(xs), 1.0 + max(points[c][1] for c in children))
        return index

    place(tree)
    return points, edges, words


def _draw(ax: Any, tree: Tree, title: str) -> None:
    points, edges, words = layout(tree)
    leaves = [i for i, (_, y) in enumerate(points) if y == 0.0]  # in word order (a pre-order walk)
    for parent, child in edges:
        (x0, y0), (x1, y1) = points[parent], points[child]
        ax.plot([x0, x1], [y0, y1], color="0.35", lw=1.2, zorder=1)
    inner = [(x, y) for x, y in points if y > 0]
    ax.scatter([x for x, _ in inner], [y for _, y in inner], s=14, color="C0", zorder=2)
    for i, word in zip(leaves, words, strict=True):
        ax.text(points[i][0], -0.25, word, rotation=60, ha="right", va="top", fontsize=9)
    height = max(y for _, y in points)
    ax.set_xlim(-1, len(leaves))
    ax.set_ylim(-0.4, height + 0.5)
    ax.set_title(title, fontsize=10, loc="left")
    ax.axis("off")


def draw_trees(panels: Sequence[tuple[str, Tree]], path: str | Path, title: str = "") -> Path:
    """One PNG with a panel per ``(caption, tree)``, stacked; the trees should share their words."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not panels:
        raise ValueError("panels: give at least one (caption, tree) pair")
    n = max(len(tree_words(tree)) for _, tree in panels)
    # panel height ~ tree height, capped so that a 40-word spine does not dwarf the gold tree
    heights = [min(max(y for _, y in layout(tree)[0]), 8.0) + 2.5 for _, tree in panels]
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(max(5.0, 0.55 * n), 0.42 * sum(heights) + 0.6), dpi=110,
        gridspec_kw={"height_ratios": heights}, squeeze=False,
    )  # fmt: skip
    for ax, (caption, tree) in zip(axes[:, 0], panels, strict=True):
        _draw(ax, tree, caption)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def draw_tree(tree: Tree, path: str | Path, title: str = "") -> Path:
    """A single tree as a PNG: leaves on a baseline, internal nodes above, lines to their children."""
    return draw_trees([(title, tree)], path)


def draw_induced_vs_gold(
    run: str | Path,
    trees: Path,
    out: Path,
    count: int = 3,
    max_words: int = 20,
    layers: Sequence[int] = (2, 3),
) -> list[Path]:
    """For the first ``count`` sentences of ``trees`` with at most ``max_words`` words, draw the gold tree
    above the trees that layers ``layers`` (1-based) of the language model in ``run`` induce; writes
    ``on_lstm_induced_<k>.png``. Words are shown as in the treebank; the model reads them mapped to its
    vocabulary (``zoo_on_lstm.recipe.treebank_sentences``'s convention)."""
    from zoo_on_lstm.data import Vocabulary
    from zoo_on_lstm.parsing import distances_to_tree, to_lm_words
    from zoo_on_lstm.recipe import layer_distances

    import zoo

    model = zoo.load(f"local-dir:{run}")
    vocab = Vocabulary(list(model.vocab)[2:])
    paths: list[Path] = []
    for node in read_trees(trees):
        gold = gold_tree(node)
        if gold is None or isinstance(gold, str) or len(tree_words(gold)) > max_words:
            continue
        words = tree_words(gold)
        distances = layer_distances(model, [to_lm_words(words, vocab)])[0]  # (L, n)
        panels: list[tuple[str, Tree]] = [("gold (punctuation and traces dropped, unaries collapsed)", gold)]
        for layer in layers:
            induced = distances_to_tree(distances[layer - 1].tolist(), words)
            f1 = sentence_f1(tree_brackets(induced), tree_brackets(gold))
            panels.append((f"ON-LSTM layer {layer} (master-forget distances), F1 {f1:.2f}", induced))
        paths.append(
            draw_trees(
                panels,
                out / f"on_lstm_induced_{len(paths) + 1}.png",
                title=f"{trees.name}, line {node.line}: {len(words)} words",
            )
        )
        print(f"wrote {paths[-1]}  ({' '.join(words)})")
        if len(paths) == count:
            break
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", type=Path, help="a file of Penn Treebank bracketed trees")
    parser.add_argument("--first", type=int, default=3, help="how many sentences to draw (default 3)")
    parser.add_argument("--max-words", type=int, default=20, help="skip longer sentences (default 20)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img", help="folder for the PNGs")
    args = parser.parse_args()

    drawn = 0
    for node in read_trees(args.trees):
        gold = gold_tree(node)
        if gold is None or len(tree_words(gold)) > args.max_words or isinstance(gold, str):
            continue
        words = tree_words(gold)
        right = right_branching(words)
        f1 = sentence_f1(tree_brackets(right), tree_brackets(gold))
        drawn += 1
        path = draw_trees(
            [
                ("gold (punctuation and traces dropped, unaries collapsed)", gold),
                (f"right-branching, F1 {f1:.2f}", right),
            ],
            args.out / f"on_lstm_trees_{drawn}.png",
            title=f"{args.trees.name}, line {node.line}: {len(words)} words",
        )
        print(f"wrote {path}  ({' '.join(words)})")
        if drawn == args.first:
            break
    if not drawn:
        raise SystemExit(f"no sentence of 2..{args.max_words} words in {args.trees}; raise --max-words")


if __name__ == "__main__":
    main()
