"""Unsupervised parsing with syntactic distances: trees, treebank readers, brackets and F1 (article 6621).

Trees are the reference's nested lists (``Tree = str | list[Tree]``: a word, or a list of subtrees), so
``[['a', ['b', 'c']], ['d', 'e']]`` is ``((a (b c)) (d e))``. Labelled trees read from treebank files
are :class:`Node` objects.

Conventions (those of yikangshen/Ordered-Neurons, ``data_ptb.py`` and ``test_phrase_grammar.py``):

- **Gold trees** keep the leaves whose part-of-speech tag is in :data:`WORD_TAGS` (a whitelist: traces
  ``-NONE-``, punctuation ``. , : -LRB- -RRB- '' ``\u0060\u0060`` and the currency tags ``$ #`` are
  dropped), delete the constituents that become empty and collapse unary chains.
- **Brackets** are the spans ``(start, end)`` (word positions, ``end`` exclusive) of every constituent of
  at least two words, except the whole sentence.
- **Distances → tree**: the model reads ``<eos> w_0 … w_{n-1} <eos>``; the distance computed at the input
  step of ``w_i`` is ``d_i`` (the first and last positions, both ``<eos>``, are dropped). A large ``d_i``
  means a boundary *before* ``w_i``: the sentence splits at ``k = argmax d`` (the first one on ties) into
  ``[tree(w_0 … w_{k-1}), [w_k, tree(w_{k+1} …)]]``, empty parts dropped, recursively. ``d_0`` only
  matters when it is the maximum (then ``w_0`` heads a right-branching spine).
- **F1** per sentence, then the mean over sentences; when the gold tree has no brackets, recall is 1, and
  when neither tree has any, precision is 1 too (F1 = 1). The reference adds 1e-8 to denominators, so
  its F1 of identical trees is 1 − 1e-8: here it is exactly 1.

Words for the language model are mapped separately (:func:`ptb_lm_word`, :func:`to_lm_words`): the
Mikolov PTB text lowercases, replaces numbers and ``%`` by ``N`` and keeps ``$`` and ``#`` (its tags are
:data:`LM_TEXT_WORD_TAGS`). The reference instead replaces each run of digits (``1.5`` → ``N.N``, an
``<unk>`` for the LM) and feeds the LM its whitelist words only.

Pure Python (no torch): every function here works on lists, strings and sets. Deep trees (a sentence of
thousands of words gives a spine that deep) are handled without recursion.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

__all__ = [
    "LM_TEXT_WORD_TAGS",
    "WORD_TAGS",
    "Node",
    "Tree",
    "TreeFormatError",
    "balanced_tree",
    "corpus_f1",
    "distances_to_tree",
    "gold_tree",
    "gold_words_and_brackets",
    "left_branching",
    "mean_f1",
    "precision_recall_f1",
    "ptb_lm_word",
    "random_tree",
    "read_trees",
    "right_branching",
    "sentence_f1",
    "to_lm_words",
    "tree_brackets",
    "tree_from_str",
    "tree_to_str",
    "tree_words",
]

Tree: TypeAlias = "str | list[Tree]"
Bracket: TypeAlias = tuple[int, int]

#: The part-of-speech tags of the leaves gold trees keep (the reference's ``word_tags``, data_ptb.py).
WORD_TAGS: frozenset[str] = frozenset(
    {"CC", "CD", "DT", "EX", "FW", "IN", "JJ", "JJR", "JJS", "LS", "MD", "NN", "NNS", "NNP", "NNPS", "PDT"}
    | {"POS", "PRP", "PRP$", "RB", "RBR", "RBS", "RP", "SYM", "TO", "UH", "VB", "VBD", "VBG", "VBN", "VBP"}
    | {"VBZ", "WDT", "WP", "WP$", "WRB"}
)
#: The tags whose words the Mikolov PTB language-model text keeps: :data:`WORD_TAGS` plus ``$`` and ``#``
#: (it writes "to $ N million", "# N million"; checked on the WSJ sample in the tests).
LM_TEXT_WORD_TAGS: frozenset[str] = WORD_TAGS | {"$", "#"}

_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_NUMBER = re.compile(r"[0-9.,:\\/-]*[0-9][0-9.,:\\/-]*")


class TreeFormatError(ValueError):
    """A bracketed tree file that cannot be read; the message starts with ``FILE:LINE:``."""


@dataclass
class Node:
    """A labelled constituent: ``label`` (``""`` when unlabelled) and its children, subtrees or words.

    A preterminal is a node whose only child is a word: ``Node("NN", ["dog"])``. ``line`` is the line of
    the opening bracket in the file it came from (0 when built by hand).
    """

    label: str
    children: list[Node | str]
    line: int = field(default=0, compare=False)

    @property
    def is_preterminal(self) -> bool:
        return len(self.children) == 1 and isinstance(self.children[0], str)

    def pos(self) -> list[tuple[str, str]]:
        """``(word, tag)`` of every preterminal, left to right (traces and punctuation included)."""
        out: list[tuple[str, str]] = []
        stack: list[Node | str] = [self]
        while stack:
            node = stack.pop()
            if isinstance(node, str):
                continue
            if node.is_preterminal:
                out.append((str(node.children[0]), node.label))
            else:
                stack.extend(reversed(node.children))
        return out

    def __str__(self) -> str:
        parts: list[str] = []
        stack: list[Node | str] = [self]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                parts.append(item)
                continue
            parts.append(f"({item.label}" if item.label else "(")
            stack.append(")")
            for child in reversed(item.children):
                stack.append(child)
                stack.append(" ")
        return "".join(parts).replace("( ", "(").replace(" )", ")")


# --------------------------------------------------------------------------------------------- reading


def _lines(source: str | os.PathLike[str] | Iterable[str]) -> tuple[str, Iterator[str]]:
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            what = "is not a file" if path.exists() else "does not exist"
            raise TreeFormatError(f"{path}: the tree file {what}; expected Penn Treebank bracketed trees")

        def read() -> Iterator[str]:
            with path.open(encoding="utf-8") as f:
                yield from f

        return str(path), read()
    return str(getattr(source, "name", "<input>")), iter(source)


def _tokens(lines: Iterator[str]) -> Iterator[tuple[str, int]]:
    lineno = 0
    for chunk in lines:
        for line in chunk.splitlines() or [""]:
            lineno += 1
            yield from ((m.group(), lineno) for m in _TOKEN.finditer(line))
    yield "", max(lineno, 1)  # end of input


def _check_node(node: Node, where: str) -> None:
    if not node.children:
        raise TreeFormatError(
            f"{where}: empty constituent '({node.label})' opened on line {node.line}; a leaf must be "
            "'(TAG word)', a phrase '(LABEL (...) ...)'"
        )
    words = [c for c in node.children if isinstance(c, str)]
    if words and (not node.label or len(node.children) > 1):
        raise TreeFormatError(
            f"{where}: word {words[0]!r} has no part-of-speech tag (in the bracket opened on line "
            f"{node.line}); a leaf must be '(TAG word)'"
        )


def read_trees(source: str | os.PathLike[str] | Iterable[str]) -> list[Node]:
    """Every tree of a Penn Treebank bracketed file, as :class:`Node` trees.

    ``source``: a path, or an iterable of lines (an open file, a list of strings). Both layouts work:
    ``.mrg`` files (a tree spread over many lines, wrapped in an unlabelled ``( … )``, blank lines and
    ``*x*`` comment lines between trees) and one tree per line; the unlabelled wrapper of a single tree
    is removed, as nltk does. Raises :class:`TreeFormatError` naming the file and line for unbalanced
    brackets, a word without a tag, an empty constituent, text outside brackets, or no tree at all.
    """
    name, lines = _lines(source)
    trees: list[Node] = []
    stack: list[Node] = []  # the open brackets
    expect_label = False  # the token after '(' is its label, unless it is another '('
    skip_line = 0
    for token, line in _tokens(lines):
        where = f"{name}:{line}"
        if token == "":
            if stack:
                raise TreeFormatError(
                    f"{where}: unbalanced brackets: the tree opened on line {stack[0].line} is not closed "
                    "at the end of the file (a missing ')')"
                )
            if not trees:
                raise TreeFormatError(
                    f"{where}: no tree found; expected Penn Treebank bracketed trees, e.g. '( (S (NN dog)) )'"
                )
            return trees
        if line == skip_line:
            continue
        if token == "(":
            stack.append(Node("", [], line))
            expect_label = True
        elif token == ")":
            if not stack:
                raise TreeFormatError(
                    f"{where}: unbalanced brackets: a ')' closes nothing (an extra ')' or a missing '(')"
                )
            expect_label = False
            node = stack.pop()
            _check_node(node, where)
            if stack:
                stack[-1].children.append(node)
            else:
                only = node.children[0]
                trees.append(
                    only if not node.label and len(node.children) == 1 and isinstance(only, Node) else node
                )
        elif not stack:
            if not token.startswith("*x*"):
                raise TreeFormatError(
                    f"{where}: text {token!r} outside brackets; expected '(' to start a tree"
                )
            skip_line = line  # an .mrg header comment line
        elif expect_label:
            stack[-1].label = token
            expect_label = False
        else:
            stack[-1].children.append(token)
    raise AssertionError("unreachable")  # pragma: no cover  (_tokens always ends with the end marker)


# ------------------------------------------------------------------------------------------ gold trees


def gold_tree(node: Node, word_tags: Collection[str] = WORD_TAGS) -> Tree | None:
    """The reference's gold tree of ``node``: leaves tagged in ``word_tags`` (raw words, case kept),
    constituents left empty deleted, unary chains collapsed; ``None`` when no word is left."""
    # Iterative post-order: results[i] collects the reduced children of the i-th open node.
    results: list[list[Tree]] = [[]]
    stack: list[tuple[Node | str, bool]] = [(node, False)]
    while stack:
        item, done = stack.pop()
        if isinstance(item, str):
            continue
        if item.is_preterminal:
            if item.label in word_tags:
                results[-1].append(str(item.children[0]))
            continue
        if not done:
            stack.append((item, True))
            results.append([])
            stack.extend((child, False) for child in reversed(item.children))
            continue
        kids = results.pop()
        if len(kids) == 1:
            results[-1].append(kids[0])
        elif kids:
            results[-1].append(kids)
    top = results[0]
    return top[0] if top else None


def gold_words_and_brackets(
    node: Node, word_tags: Collection[str] = WORD_TAGS
) -> tuple[list[str], set[Bracket]]:
    """The words (raw, case kept) and brackets of :func:`gold_tree`; ``([], set())`` if no word is left."""
    tree = gold_tree(node, word_tags)
    if tree is None:
        return [], set()
    return tree_words(tree), tree_brackets(tree)


# ----------------------------------------------------------------------------------------------- words


def ptb_lm_word(word: str) -> str:
    """A treebank word as the Mikolov PTB LM text writes it: lowercased; a number becomes ``N``.

    A number is a token made of digits and ``. , : - \\/`` with at least one digit (``15``, ``1.5``,
    ``1,000``, ``3\\/4``, ``10:30``) or the percent sign (the LM text reads "a N N rise" for "a 15 % rise").
    Words with letters keep their digits (``1980s``, ``30-day``, ``'80s``); escapes such as ``\\/`` stay.
    """
    if word == "%" or _NUMBER.fullmatch(word):
        return "N"
    return word.lower()


def to_lm_words(words: Iterable[str], vocab: Collection[str]) -> list[str]:
    """:func:`ptb_lm_word` of each raw treebank word, ``<unk>`` when the result is not in ``vocab``.

    Give raw words, not mapped ones: ``ptb_lm_word("15")`` is ``"N"`` but ``ptb_lm_word("N")`` is ``"n"``.
    """
    out = []
    for word in words:
        mapped = ptb_lm_word(word)
        out.append(mapped if mapped in vocab else "<unk>")
    return out


# ----------------------------------------------------------------------------------- trees of words


def _check_tree(tree: object) -> None:
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            continue
        if not isinstance(item, list) or not item:
            raise ValueError(f"tree: {item!r} is neither a word (str) nor a non-empty list of subtrees")
        stack.extend(item)


def tree_words(tree: Tree) -> list[str]:
    """The leaves of ``tree``, left to right."""
    _check_tree(tree)
    words: list[str] = []
    stack: list[Tree] = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            words.append(item)
        else:
            stack.extend(reversed(item))
    return words


def tree_brackets(tree: Tree) -> set[Bracket]:
    """Spans ``(start, end)``, end exclusive, of the subtrees of ≥ 2 words, the whole sentence excluded.

    ``[['a', ['b', 'c']], ['d', 'e']]`` → ``{(0, 3), (1, 3), (3, 5)}``. On trees without unary lists
    (those of :func:`distances_to_tree` and :func:`gold_tree`) this is the reference's ``get_brackets``.
    """
    _check_tree(tree)
    spans: set[Bracket] = set()
    position = 0
    stack: list[tuple[Tree, int]] = [(tree, -1)]  # (subtree, start) ; start >= 0 marks the closing visit
    while stack:
        item, start = stack.pop()
        if isinstance(item, str):
            position += 1
        elif start >= 0:
            if position - start >= 2:
                spans.add((start, position))
        else:
            stack.append((item, position))
            stack.extend((child, -1) for child in reversed(item))
    spans.discard((0, position))
    return spans


def tree_to_str(tree: Tree) -> str:
    """``(a (b c))`` for ``['a', ['b', 'c']]``; see :func:`tree_from_str` for the way back."""
    _check_tree(tree)
    parts: list[str] = []
    stack: list[Tree | None] = [tree]  # None closes a bracket
    while stack:
        item = stack.pop()
        if item is None:
            parts.append(")")
        elif isinstance(item, str):
            parts.append(item)
        else:
            parts.append("(")
            stack.append(None)
            stack.extend(reversed(item))
    text = " ".join(parts)
    return text.replace("( ", "(").replace(" )", ")")


def tree_from_str(text: str) -> Tree:
    """The tree of ``tree_to_str``'s output (unlabelled brackets around words); ValueError if unbalanced."""
    stack: list[list[Tree]] = [[]]
    for token in _TOKEN.findall(text):
        if token == "(":
            stack.append([])
        elif token == ")":
            if len(stack) == 1:
                raise ValueError(f"tree text {text!r}: a ')' closes nothing")
            done = stack.pop()
            if not done:
                raise ValueError(f"tree text {text!r}: empty brackets '()'")
            stack[-1].append(done)
        else:
            stack[-1].append(token)
    if len(stack) != 1 or len(stack[0]) != 1:
        raise ValueError(f"tree text {text!r}: expected one balanced tree")
    return stack[0][0]


def distances_to_tree(distances: Sequence[float], words: Sequence[str]) -> Tree:
    """The reference's ``build_tree``: split at the first argmax ``k`` into
    ``[tree(words[:k]), [words[k], tree(words[k+1:])]]``, empty parts dropped.

    ``distances[i]``: the syntactic distance read at the input step of ``words[i]`` (a boundary before
    it), same length as ``words``. ``[.1, .5, .2, .9, .3]`` on a..e → ``[['a', ['b', 'c']], ['d', 'e']]``;
    increasing distances give a left-branching tree, decreasing ones a right-branching tree.
    Built in O(n) as the Cartesian tree of the distances (equal values: the earlier one is the parent).
    """
    n = len(words)
    if n == 0:
        raise ValueError("words: an empty sentence has no tree; give at least one word")
    if len(distances) != n:
        raise ValueError(f"distances has {len(distances)} values but words has {n}; give one per word")
    values = [float(d) for d in distances]
    if any(v != v for v in values):
        raise ValueError(f"distances contain NaN: {values}")
    left = [-1] * n
    right = [-1] * n
    spine: list[int] = []  # indices with non-increasing distances: the right spine of the tree so far
    for i, v in enumerate(values):
        last = -1
        while spine and values[spine[-1]] < v:
            last = spine.pop()
        left[i] = last
        if spine:
            right[spine[-1]] = i
        spine.append(i)
    # Post-order over the Cartesian tree rooted at spine[0].
    built: dict[int, Tree] = {}
    stack: list[tuple[int, bool]] = [(spine[0], False)]
    while stack:
        k, done = stack.pop()
        if not done:
            stack.append((k, True))
            stack.extend((c, False) for c in (left[k], right[k]) if c >= 0)
            continue
        head: Tree = words[k] if right[k] < 0 else [words[k], built.pop(right[k])]
        built[k] = head if left[k] < 0 else [built.pop(left[k]), head]
    return built[spine[0]]


# ---------------------------------------------------------------------------------------------- scores


def precision_recall_f1(pred: Collection[Bracket], gold: Collection[Bracket]) -> tuple[float, float, float]:
    """Unlabelled bracket precision, recall and F1 of one sentence (reference conventions, no epsilon).

    No gold brackets ⇒ recall 1; no brackets at all ⇒ precision 1 too. Otherwise an empty side scores 0.
    """
    pred, gold = set(pred), set(gold)
    overlap = len(pred & gold)
    recall = overlap / len(gold) if gold else 1.0
    precision = overlap / len(pred) if pred else (1.0 if not gold else 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f1


def sentence_f1(pred: Collection[Bracket], gold: Collection[Bracket]) -> float:
    """The F1 of :func:`precision_recall_f1`."""
    return precision_recall_f1(pred, gold)[2]


def mean_f1(pairs: Iterable[tuple[Collection[Bracket], Collection[Bracket]]]) -> float:
    """Mean of :func:`sentence_f1` over ``(pred, gold)`` bracket pairs: the number the paper reports."""
    scores = [sentence_f1(pred, gold) for pred, gold in pairs]
    if not scores:
        raise ValueError("pairs: no sentence to score; give at least one (pred, gold) pair")
    return sum(scores) / len(scores)


def corpus_f1(pairs: Iterable[tuple[Collection[Bracket], Collection[Bracket]]]) -> float:
    """Micro-averaged F1: brackets pooled over all sentences (an EVALB-like corpus score).

    The reference also prints EVALB's corpus F1, whose brackets include each whole sentence; here the
    whole sentence is excluded as everywhere in this module, so the two numbers differ.
    """
    matched = predicted = golden = 0
    count = 0
    for pred, gold in pairs:
        pred, gold = set(pred), set(gold)
        matched += len(pred & gold)
        predicted += len(pred)
        golden += len(gold)
        count += 1
    if not count:
        raise ValueError("pairs: no sentence to score; give at least one (pred, gold) pair")
    precision = matched / predicted if predicted else (1.0 if not golden else 0.0)
    recall = matched / golden if golden else 1.0
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


# ------------------------------------------------------------------------------------------- baselines


def _words(words: Sequence[str]) -> list[str]:
    if not words:
        raise ValueError("words: an empty sentence has no tree; give at least one word")
    return list(words)


def left_branching(words: Sequence[str]) -> Tree:
    """``[[[w0, w1], w2], w3]`` (a single word is the tree itself)."""
    items = _words(words)
    tree: Tree = items[0]
    for word in items[1:]:
        tree = [tree, word]
    return tree


def right_branching(words: Sequence[str]) -> Tree:
    """``[w0, [w1, [w2, w3]]]`` (a single word is the tree itself)."""
    items = _words(words)
    tree: Tree = items[-1]
    for word in reversed(items[:-1]):
        tree = [word, tree]
    return tree


def balanced_tree(words: Sequence[str]) -> Tree:
    """A complete binary bracketing: each span splits after its first ``ceil(n / 2)`` words."""
    items = _words(words)
    built: dict[tuple[int, int], Tree] = {}
    stack = [(0, len(items), False)]
    while stack:
        start, end, done = stack.pop()
        if end - start == 1:
            built[start, end] = items[start]
            continue
        middle = start + (end - start + 1) // 2
        if done:
            built[start, end] = [built.pop((start, middle)), built.pop((middle, end))]
        else:
            stack += [(start, end, True), (start, middle, False), (middle, end, False)]
    return built[0, len(items)]


def random_tree(words: Sequence[str], rng: random.Random) -> Tree:
    """:func:`distances_to_tree` of i.i.d. uniform distances: what a parser with uninformative distances
    outputs. The split word ``k`` is uniform over the span at every level (a random binary search tree
    shape), so the tree has the same ``[left, [w_k, right]]`` form as the model's trees."""
    items = _words(words)
    return distances_to_tree([rng.random() for _ in items], items)
