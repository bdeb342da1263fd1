"""The recipe of ``on-lstm-lm`` as a user drives it: ``zoo train`` on the embedded PTB text, on a user's LM
folder and on the grammar; ``zoo eval`` of perplexity and of induced trees on real WSJ trees; bad input.
Models are tiny (preset ``smoke``: a few thousand tokens, seconds)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from zoo_on_lstm import parsing, recipe
from zoo_on_lstm.data import Vocabulary, encode_corpus, ptb_lm_text

import zoo
from zoo import recipes
from zoo.cli import main

SAMPLE = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "ptb-trees-sample"
TREES = SAMPLE / "wsj_0199_tail.trees.txt"
needs_sample = pytest.mark.skipif(not TREES.is_file(), reason="../shared/data/ptb-trees-sample is absent")
TINY = ["--set", "embedding=16", "--set", "hidden=24", "--set", "chunk_size=8"]
SHORT = ["--option", "batch_size=4", "--option", "bptt=10"]  # ~50 updates an epoch on 2,000 tokens


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def ptb_run(tmp_path_factory):
    """``zoo train on-lstm-lm --preset smoke`` on the embedded PTB text: (run folder, record)."""
    out = tmp_path_factory.mktemp("ptb") / "run"
    mp = pytest.MonkeyPatch()
    mp.setenv("ZOO_PROGRESS", "0")
    try:
        record = recipes.train("on-lstm-lm", out, preset="smoke", model_args={"embedding": 16, "hidden": 24,
                               "chunk_size": 8})  # fmt: skip
    finally:
        mp.undo()
    return out, record


def test_the_run_records_perplexities_and_reloads_identically(ptb_run):
    out, record = ptb_run
    assert record["reload_identical"] is True
    vocab = 10000  # uniform guessing over the PTB vocabulary
    for key in ("valid_ppl", "test_ppl"):
        # a few thousand tokens of training: far from a trained LM, far better than uniform over 10k words
        assert 50 < record["metrics"][key] < vocab
    model = zoo.load(f"local-dir:{out}")
    assert model.vocab[:2] == ["<eos>", "<unk>"] and len(model.vocab) == 10000


def test_eval_in_python_and_on_the_cli_give_the_run_s_numbers(ptb_run, capsys, monkeypatch):
    """zoo eval RUN scores the whole PTB test text, as the run did; Python and the CLI agree."""
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    out, record = ptb_run
    code, stdout, err = run_cli(capsys, "eval", out, "--json")
    assert code == 0, err
    cli = json.loads(stdout)["metrics"]
    assert cli["test_ppl"] == pytest.approx(record["metrics"]["test_ppl"], rel=1e-6)
    model = zoo.load(f"local-dir:{out}")  # training mode, as zoo.load returns it: perplexity switches modes
    vocab = Vocabulary(model.vocab[2:])
    independent = recipe.perplexity(model, encode_corpus(ptb_lm_text("test"), vocab))
    assert cli["test_ppl"] == pytest.approx(independent, rel=1e-6)


def test_perplexity_is_the_exponent_of_the_mean_next_word_cross_entropy():
    torch.manual_seed(0)
    model = zoo.load("on-lstm-lm", vocab_size=11, embedding=8, hidden=16, chunk_size=4).eval()
    stream = torch.randint(0, 11, (41,))
    columns = stream[:40].view(2, 20).t()  # batchify: 2 columns of 20
    with torch.no_grad():
        logits = model(columns[:-1]).logits  # one segment: the whole column
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, 11), columns[1:].reshape(-1))
    assert recipe.perplexity(model, stream, batch_size=2) == pytest.approx(ce.exp().item(), rel=1e-5)


@needs_sample
def test_eval_scores_induced_trees_of_real_wsj_sentences(ptb_run, capsys, monkeypatch):
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    out, _ = ptb_run
    code, stdout, err = run_cli(capsys, "eval", out, "--data", TREES, "--json")
    assert code == 0, err
    metrics = json.loads(stdout)["metrics"]
    assert metrics["sentences"] == 30 and metrics["skipped_trees"] == 0
    # the baselines, recomputed here from the gold trees alone
    gold = [parsing.gold_words_and_brackets(node) for node in parsing.read_trees(TREES)]
    right = parsing.mean_f1((parsing.tree_brackets(parsing.right_branching(w)), b) for w, b in gold)
    left = parsing.mean_f1((parsing.tree_brackets(parsing.left_branching(w)), b) for w, b in gold)
    assert metrics["f1_right"] == pytest.approx(100 * right)
    assert metrics["f1_left"] == pytest.approx(100 * left)
    assert right > left  # English is right-branching
    for layer in (1, 2, 3):
        assert 0 <= metrics[f"f1_layer{layer}"] <= 100
    short = [(w, b) for w, b in gold if len(w) <= 10]
    assert metrics["sentences_wsj10"] == len(short)


def test_induced_trees_come_from_the_distances_of_each_layer(monkeypatch):
    """parse_scores builds each layer's tree from that layer's distances (checked against a model whose
    distances are known: a stub returning increasing depths gives left-branching trees)."""
    model = zoo.load("on-lstm-lm", vocab_size=30, embedding=8, hidden=16, chunk_size=4, vocab=None)
    model.vocab = ["<eos>", "<unk>", *[f"w{i}" for i in range(28)]]
    sentences = [["w1", "w2", "w3", "w4"], ["w5", "w6", "w7"]]

    def fake(tokens):
        t = torch.arange(tokens.size(0), dtype=torch.float).view(-1, 1).expand(-1, tokens.size(1))
        return torch.stack([t, -t, t])  # layer 1 rising, layer 2 falling, layer 3 rising

    monkeypatch.setattr(model, "distances", fake)
    gold = [parsing.tree_brackets(parsing.right_branching(s)) for s in sentences]
    metrics = recipe.parse_scores(model, sentences, gold)
    assert metrics["f1_layer2"] == 100.0 and metrics["f1_right"] == 100.0
    assert metrics["f1_layer1"] == metrics["f1_left"] == metrics["f1_layer3"]


def test_a_user_lm_folder_trains_and_evaluates(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    rng = random.Random(0)
    nouns, verbs = ["cat", "dog", "N"], ["sat", "ran", "<unk>"]
    words = ["the", "a", "on", "mat", *nouns, *verbs]
    data = tmp_path / "lm"
    data.mkdir()
    for split, n in (("train", 300), ("valid", 40), ("test", 40)):  # "the NOUN VERB on a mat": learnable
        lines = [f"the {rng.choice(nouns)} {rng.choice(verbs)} on a mat" for _ in range(n)]
        (data / f"ptb.{split}.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "train", "on-lstm-lm", "--data", data, "--out", out, "--preset",
                                "smoke", *TINY, *SHORT, "--option", "lr=5", "--json")  # fmt: skip
    assert code == 0, err
    record = json.loads(stdout)
    assert record["data"] == str(data)
    model = zoo.load(f"local-dir:{out}")
    assert sorted(model.vocab) == sorted(["<eos>", *words])  # <unk> is in the text, and the vocabulary
    assert model.vocab[:2] == ["<eos>", "<unk>"]
    # zoo eval RUN scores the run's own test file again; giving the file itself gives the same number
    code, stdout, err = run_cli(capsys, "eval", out, "--json")
    again = json.loads(stdout)["metrics"]["test_ppl"]
    code, stdout, err = run_cli(capsys, "eval", out, "--data", data / "ptb.test.txt", "--json")
    assert code == 0, err
    assert json.loads(stdout)["metrics"]["test_ppl"] == pytest.approx(again)
    assert again == pytest.approx(record["metrics"]["test_ppl"], rel=1e-6)
    # better than uniform (11 words): near the unigram perplexity of this text (9.6) after 50 updates
    assert again < len(model.vocab)


def test_the_grammar_run_scores_trees_and_eval_scores_them_again(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    out = tmp_path / "grammar"
    code, stdout, err = run_cli(capsys, "train", "on-lstm-lm", "--option", "corpus=grammar", "--out", out,
                                "--preset", "smoke", *TINY, "--json")  # fmt: skip
    assert code == 0, err
    metrics = json.loads(stdout)["metrics"]
    for key in ("f1_layer1", "f1_layer2", "f1_layer3", "f1_random", "f1_left", "f1_right"):
        assert 0 <= metrics[key] <= 100
    assert metrics["unigram_test_ppl"] > 1
    code, stdout, err = run_cli(capsys, "eval", out, "--json")
    assert code == 0, err
    again = json.loads(stdout)["metrics"]
    for key in ("test_ppl", "f1_layer2", "f1_right"):
        assert again[key] == pytest.approx(metrics[key], rel=1e-6), key


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("(S (NP (DT the) (NN cat))\n(S (VP (VBD sat)))\n", "line"),  # unbalanced: the error names a line
        ("(S (, ,) (. .))\n", "no tree has a word left"),  # an empty sentence once punctuation is dropped
        ("(S " + " ".join(f"(NN w{i})" for i in range(recipe.MAX_WORDS + 1)) + ")\n", "at most"),
    ],
    ids=["unbalanced", "empty", "too-long"],
)
def test_bad_tree_files_are_one_clear_error_and_write_nothing(ptb_run, tmp_path, capsys, text, message):
    out, _ = ptb_run
    before = sorted(p.name for p in out.iterdir())
    bad = tmp_path / "bad.mrg"
    bad.write_text(text)
    code, stdout, err = run_cli(capsys, "eval", out, "--data", bad)
    assert code != 0 and stdout == ""
    assert err.startswith("zoo: error:") and message in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mrg"]


def test_the_lstm_baseline_has_no_trees_to_score(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    out = tmp_path / "lstm"
    code, _, err = run_cli(capsys, "train", "on-lstm-lm.lstm", "--option", "corpus=grammar", "--out", out,
                           "--preset", "smoke", *TINY)  # fmt: skip
    assert code == 0, err
    trees = tmp_path / "t.txt"
    trees.write_text("(S (NP (DT the) (NN cat)) (VP (VBD sat)))\n")
    code, _, err = run_cli(capsys, "eval", out, "--data", trees)
    assert code != 0 and "zoo: error:" in err and "only cell='on-lstm' parses" in err


def test_a_checkpoint_that_is_not_a_language_model_is_refused(tmp_path, capsys):
    stack = zoo.load("on-lstm", input_size=8, hidden_sizes=[16], chunk_size=4)
    zoo.save(stack, tmp_path / "stack")
    trees = tmp_path / "t.txt"
    trees.write_text("(S (NP (DT the) (NN cat)) (VP (VBD sat)))\n")
    code, _, err = run_cli(capsys, "eval", tmp_path / "stack", "--data", trees)
    assert code != 0 and err.startswith("zoo: error:") and "no training recipe" in err
    with pytest.raises(zoo.RecipeError, match="not an on-lstm-lm language model"):
        recipe.LanguageModelRecipe().evaluate(stack, trees)


def test_unknown_corpus_and_preset_are_refused(tmp_path):
    with pytest.raises(zoo.RecipeError, match="corpus must be 'ptb' or 'grammar'"):
        recipes.train("on-lstm-lm", tmp_path / "a", preset="smoke", options={"corpus": "wiki"})
    with pytest.raises(zoo.RecipeError, match="unknown preset"):
        recipes.train("on-lstm-lm", tmp_path / "b", preset="huge")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_the_optimizer_state_says_whether_asgd_took_over():
    """A run resumed after the switch to averaged SGD continues with ASGD and its averages, bit for bit."""
    import json

    import torch
    from zoo_on_lstm.recipe import Optimizer

    from zoo import train_state

    def step(opt: Optimizer, params: list[torch.nn.Parameter], seed: int) -> None:
        torch.manual_seed(seed)
        opt.opt.zero_grad()
        torch.stack([(p * torch.randn_like(p)).sum() for p in params]).sum().backward()
        opt.opt.step()

    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(3, 2)), torch.nn.Parameter(torch.randn(2))]
    o = {"lr": 0.5, "wdecay": 1e-3}
    opt = Optimizer(list(params), o)
    step(opt, params, 1)
    opt.switch()
    step(opt, params, 2)
    tensors: dict[str, torch.Tensor] = {}
    tree = json.loads(json.dumps(train_state.encode(opt.state_dict(), "optimizer", tensors)))
    copies = [torch.nn.Parameter(p.detach().clone()) for p in params]
    resumed = Optimizer(list(copies), o)
    resumed.load_state_dict(train_state.decode(tree, tensors))
    assert isinstance(resumed.opt, torch.optim.ASGD)
    step(opt, params, 3)
    step(resumed, copies, 3)
    assert all(torch.equal(a, b) for a, b in zip(params, copies, strict=True))
    averages = [opt.opt.state[p]["ax"] for p in params], [resumed.opt.state[p]["ax"] for p in copies]
    assert all(torch.equal(a, b) for a, b in zip(*averages, strict=True))
