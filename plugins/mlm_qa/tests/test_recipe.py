"""``zoo train mlm-qa`` / ``zoo eval`` on generated data, SogouQA / SQuAD files and folders (tiny models).

Every training here is the ``smoke`` preset with a 1-layer, 16-wide encoder: seconds each. The numbers
are not results; the tests check the plumbing (files, reload, options, errors) and that the metrics of
training, ``zoo eval``, the Python API and a hand computation are the same numbers.
"""

from __future__ import annotations

import json
import math
import random
from io import StringIO
from pathlib import Path
from unittest import mock

import pytest
import torch
from zoo_mlm_qa.data import Passage, Question, clean_passage, generated_qa, read_qa
from zoo_mlm_qa.encoding import encode_inputs_batch, passage_tokens, text_tokens
from zoo_mlm_qa.metric import score
from zoo_mlm_qa.reader import answer_many
from zoo_mlm_qa.recipe import evaluate_questions, split_file, training_pairs

import zoo
from zoo import recipes
from zoo.cli import main
from zoo.text import bert_char_tokenizer

TINY = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32}
SET = [x for k, v in TINY.items() for x in ("--set", f"{k}={v}")]
SAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "qa-samples"
N_TRAIN, N_DEV = 64, 32  # the smoke preset's generated data


@pytest.fixture(autouse=True)
def quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOO_PROGRESS", "0")


def cli(*argv: object) -> tuple[int, str, str]:
    stdout, stderr = StringIO(), StringIO()
    with mock.patch("sys.stdout", stdout), mock.patch("sys.stderr", stderr):
        code = main([str(a) for a in argv])
    return code, stdout.getvalue(), stderr.getvalue()


def sogou_records(questions: list[Question]) -> list[dict]:
    """SogouQA / WebQA records: each passage annotated with its answer ("" where it has none)."""
    return [
        {
            "id": q.id,
            "question": q.question,
            "passages": [
                {"passage": p.text, "answer": p.answers[0] if p.answers else ""} for p in q.passages
            ],
        }
        for q in questions
    ]


def squad_top(questions: list[Question]) -> dict:
    """SQuAD / CMRC 2018 JSON: each question with its first answering passage as the context."""
    paragraphs = []
    for q in questions:
        context = next(p.text for p in q.passages if p.answers)
        qa = {"id": q.id, "question": q.question}
        qa["answers"] = [{"text": a, "answer_start": context.index(a)} for a in q.answers]
        paragraphs.append({"context": context, "qas": [qa]})
    return {"version": "v1.0", "data": [{"title": "generated", "paragraphs": paragraphs}]}


def write_json(path: Path, value: object) -> Path:
    path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """``zoo train mlm-qa --preset smoke --set <tiny> --json`` on the generated default: (run, record)."""
    out = tmp_path_factory.mktemp("run") / "qa"
    with mock.patch.dict("os.environ", {"ZOO_PROGRESS": "0"}):
        code, stdout, stderr = cli("train", "mlm-qa", "--out", out, "--preset", "smoke", *SET, "--json")
    assert code == 0, stderr
    return out, json.loads(stdout)


def test_cli_training_on_generated_data_saves_the_run_and_reloads(trained):
    out, record = trained
    assert record["reload_identical"] is True and record["data"] == recipes.EMBEDDED
    assert record["reference"] == {}  # the article's SogouQA numbers do not apply to generated data
    for name in ("config.json", "model.safetensors", "tokenizer.json", "results.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "results.json").read_text(encoding="utf-8"))["metrics"] == record["metrics"]
    m = record["metrics"]
    assert set(m) == {"accuracy", "f1", "final", "questions", "train_loss"}
    assert m["questions"] == N_DEV and m["final"] == pytest.approx((m["accuracy"] + m["f1"]) / 2)
    assert math.isfinite(m["train_loss"]) and m["train_loss"] > 0
    assert f"{N_TRAIN} generated questions (data_seed 0)" in record["notes"]
    assert f"dev = {N_DEV} questions over held-out entity names" in record["notes"]
    model = zoo.load(f"local-dir:{out}")
    assert not model.training and model.config.hidden_size == 16 and model.max_a_len == 16
    # the character vocabulary is that of the cleaned training questions and passages, plus 5 specials
    train = generated_qa(N_TRAIN, N_DEV, seed=0).train
    texts = [q.question for q in train] + [clean_passage(p.text) for q in train for p in q.passages]
    assert model.tokenizer.get_vocab() == bert_char_tokenizer(texts).get_vocab()


def test_training_record_zoo_eval_python_api_and_hand_scoring_agree(trained, monkeypatch):
    out, record = trained
    monkeypatch.setattr("zoo_mlm_qa.recipe.EVAL_DEV", N_DEV)  # zoo eval scores the generated dev (400)
    code, stdout, stderr = cli("eval", out, "--json")
    assert code == 0, stderr
    from_cli = json.loads(stdout)["metrics"]
    in_python = recipes.evaluate(str(out))["metrics"]
    # by hand: the checkpoint's reader on the same held-out questions (passages cleaned as in training)
    model = zoo.load(f"local-dir:{out}")
    dev = list(generated_qa(0, N_DEV, seed=0).dev)
    assert [q.id for q in dev] == [q.id for q in generated_qa(N_TRAIN, N_DEV, seed=0).dev]
    cleaned = [[clean_passage(p.text) for p in q.passages] for q in dev]
    one_by_one = [model.answer(q.question, ps) for q, ps in zip(dev, cleaned, strict=True)]
    batched = answer_many(model, [(q.question, ps) for q, ps in zip(dev, cleaned, strict=True)], batch_size=5)
    assert [a.text for a in batched] == [a.text for a in one_by_one]
    assert all(len(a.votes) == len(q.passages) for a, q in zip(one_by_one, dev, strict=True))
    assert sum(bool(a.text) for a in one_by_one) > N_DEV // 2  # not a comparison of empty answers
    by_hand = score({q.id: a.text for q, a in zip(dev, one_by_one, strict=True)}, dev)
    assert by_hand["f1"] > 0  # some characters right: the equalities below compare real numbers
    for key in ("accuracy", "f1", "final"):
        assert from_cli[key] == in_python[key] == record["metrics"][key], key
        assert record["metrics"][key] == pytest.approx(by_hand[key], abs=1e-12), key
    assert from_cli["questions"] == in_python["questions"] == N_DEV


def test_evaluation_reads_passages_as_training_did(trained):
    """Training encodes cleaned passages (blanks, 、 ； ， -> ","); so must the dev evaluation."""
    out, _ = trained
    model = zoo.load(f"local-dir:{out}")
    q = Question("x", "张伟出生在哪里？", (Passage("张伟 出生于、江阳市；后来", ("江阳市",)),), ("江阳市",))
    seen: list[torch.Tensor] = []
    hook = model.register_forward_pre_hook(lambda _module, args: seen.append(args[0].clone()))
    try:
        evaluate_questions(model, [q])
    finally:
        hook.remove()
    qs, ps, targets, _ = training_pairs(
        [q], model.tokenizer, model.max_p_len, model.max_a_len, random.Random(0)
    )
    trained_on = encode_inputs_batch(
        model.tokenizer, qs, ps, model.max_p_len, model.max_q_len, model.max_a_len
    )
    assert targets == ["江阳市"] and len(seen) == 1
    assert torch.equal(seen[0], trained_on)


def test_training_targets_lie_in_the_encoded_passage():
    """bert4keras looks for the answer in ``passage[:max_p_len - 2]``: a target must be a run of the
    passage tokens the model sees (``max_p_len - 1`` of them), never cut off by the truncation."""
    passage = "甲乙丙丁戊己庚辛壬癸"
    tokenizer = bert_char_tokenizer([passage])
    cases = {"丁戊": "丁戊", "庚辛": "", "壬癸": ""}  # max_p_len 8: the model sees 甲乙丙丁戊己庚
    questions = [Question(a, "问", (Passage(passage, (a,)),), (a,)) for a in cases]
    _, ps, targets, too_long = training_pairs(questions, tokenizer, 8, 4, random.Random(0))
    assert targets == list(cases.values()) and too_long == 0
    # and on generated data: every non-empty target is a run of its passage's kept tokens
    train = list(generated_qa(200, 0, seed=3).train)
    texts = [q.question for q in train] + [clean_passage(p.text) for q in train for p in q.passages]
    tokenizer = bert_char_tokenizer(texts)
    for max_p_len in (12, 20, 30):
        _, ps, targets, _ = training_pairs(train, tokenizer, max_p_len, 16, random.Random(max_p_len))
        assert any(targets)
        for p, target in zip(ps, targets, strict=True):
            if target:
                kept = passage_tokens(tokenizer, [p], max_p_len)[0]
                assert kept.span_text(text_tokens(tokenizer, [target])[0]), (p, target)


@pytest.mark.parametrize("fmt", ["sogou", "squad"])
def test_a_data_file_in_either_format_trains_on_its_split(tmp_path, fmt):
    questions = list(generated_qa(40, 0, seed=5).train)
    content = sogou_records(questions) if fmt == "sogou" else squad_top(questions)
    path = write_json(tmp_path / f"{fmt}.json", content)
    record = recipes.train("mlm-qa", tmp_path / "run", data=path, preset="smoke", model_args=TINY)
    assert record["reload_identical"] is True and record["data"] == str(path)
    assert record["metrics"]["questions"] == 8  # every 5th of 40 (dev_fraction 0.2)
    assert f"{path} (every 5th question held out as dev)" in record["notes"]
    assert record["reference"] and "SogouQA's validation score" in record["notes"]
    # zoo eval --data FILE scores the whole file (all 40), in either format
    report = recipes.evaluate(str(tmp_path / "run"), data=path)
    assert report["metrics"]["questions"] == 40


def test_the_dev_split_of_one_file_is_deterministic_and_disjoint():
    questions = list(generated_qa(53, 0, seed=1).train)
    for fraction, k in ((0.2, 5), (0.1, 10), (0.5, 2), (0.3, 3)):
        train, dev = split_file(questions, fraction)
        assert (train, dev) == split_file(questions, fraction)
        assert [q.id for q in dev] == [q.id for i, q in enumerate(questions) if i % k == k - 1]
        assert not {q.id for q in train} & {q.id for q in dev}
        assert sorted(q.id for q in train + dev) == sorted(q.id for q in questions)
    # the option reaches the split: 0.5 holds out every 2nd of 40 questions
    assert len(split_file(questions[:40], 0.5)[1]) == 20


def test_dev_fraction_option_and_a_folder_with_train_and_dev_files(tmp_path):
    data = generated_qa(30, 12, seed=2)
    path = write_json(tmp_path / "all.json", sogou_records(list(data.train)))
    record = recipes.train(
        "mlm-qa", tmp_path / "half", data=path, preset="smoke", options={"dev_fraction": 0.5}, model_args=TINY
    )
    assert record["metrics"]["questions"] == 15 and "every 2th question" in record["notes"]
    folder = tmp_path / "folder"
    folder.mkdir()
    write_json(folder / "train.json", sogou_records(list(data.train)))
    write_json(folder / "dev.json", squad_top(list(data.dev)))  # the two files may differ in format
    record = recipes.train("mlm-qa", tmp_path / "f", data=folder, preset="smoke", model_args=TINY)
    assert record["metrics"]["questions"] == 12 and "(dev: dev.json)" in record["notes"]
    # zoo eval RUN: scores the folder's dev file again, the same numbers as training
    report = recipes.evaluate(str(tmp_path / "f"))
    assert report["data"] == str(folder)
    for key in ("accuracy", "f1", "final", "questions"):
        assert report["metrics"][key] == record["metrics"][key], key


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/data/qa-samples is not here")
@pytest.mark.parametrize("name", ["cmrc2018_trial.json", "WebQA.json"])
def test_real_samples_score_through_zoo_eval_with_predictions(trained, tmp_path, name):
    out, _ = trained
    data = read_qa(SAMPLES / name)
    usable = data.questions
    pred = tmp_path / "pred.json"
    code, stdout, stderr = cli("eval", out, "--data", SAMPLES / name, "--predictions", pred, "--json")
    assert code == 0, stderr
    metrics = json.loads(stdout)["metrics"]
    assert metrics["questions"] == len(usable) and len(usable) > 5
    answers = json.loads(pred.read_text(encoding="utf-8"))
    assert list(answers) == [q.id for q in usable]
    assert all(isinstance(a, str) for a in answers.values())
    for q in usable:  # constrained decoding: every answer is a substring of one of the passages
        a = answers[q.id]
        assert not a or any(clean_passage(a) in clean_passage(p.text) for p in q.passages), (q.id, a)
    expected = score(answers, usable)
    for key in ("accuracy", "f1", "final"):
        assert metrics[key] == pytest.approx(expected[key], abs=1e-12), key


def test_the_unconstrained_decoder_runs(trained, tmp_path, monkeypatch):
    out, _ = trained
    monkeypatch.setattr("zoo_mlm_qa.recipe.EVAL_DEV", N_DEV)
    dev = list(generated_qa(0, N_DEV, seed=0).dev)
    files = {}
    for decoder in ("constrained", "unconstrained"):
        files[decoder] = tmp_path / f"{decoder}.json"
        code, stdout, stderr = cli(
            "eval", out, "--option", f"decoder={decoder}", "--predictions", files[decoder], "--json"
        )
        assert code == 0, stderr
        metrics = json.loads(stdout)["metrics"]
        assert set(metrics) == {"accuracy", "f1", "final", "questions"} and metrics["questions"] == N_DEV
    constrained, free = (json.loads(f.read_text(encoding="utf-8")) for f in files.values())
    assert list(constrained) == list(free) == [q.id for q in dev]
    for q in dev:
        a = constrained[q.id]
        assert not a or any(clean_passage(a) in clean_passage(p.text) for p in q.passages), (q.id, a)
    # the argmax decoder is not held to the passages: on this barely trained model it leaves them
    left = [q.id for q in dev if not any(free[q.id] in clean_passage(p.text) for p in q.passages)]
    assert left, free
    model = zoo.load(f"local-dir:{out}")
    expected, _ = evaluate_questions(model, dev, constrained=False)
    assert (
        recipes.evaluate(str(out), options={"decoder": "unconstrained"})["metrics"]["final"]
        == expected["final"]
    )


def test_mlm_pretraining_runs_before_qa_training(tmp_path):
    record = recipes.train(
        "mlm-qa", tmp_path / "pre", preset="smoke", options={"pretrain_epochs": 1}, model_args=TINY
    )
    plain = recipes.train("mlm-qa", tmp_path / "plain", preset="smoke", model_args=TINY)
    note = next(n for n in record["notes"].split("; ") if n.startswith("MLM pre-training"))
    loss = float(note.removeprefix("MLM pre-training 1 epochs (last loss ").removesuffix(")"))
    vocab = zoo.load(f"local-dir:{tmp_path / 'pre'}").tokenizer.get_vocab_size()
    assert 0 < loss < 2 * math.log(vocab)  # a cross-entropy over the vocabulary, near ln V when untrained
    assert "MLM pre-training" not in plain["notes"]
    assert record["reload_identical"] is True and math.isfinite(record["metrics"]["train_loss"])
    # the stage changed the weights the QA training started from (same seed otherwise)
    a = zoo.load(f"local-dir:{tmp_path / 'pre'}").state_dict()
    b = zoo.load(f"local-dir:{tmp_path / 'plain'}").state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("mlm_head", [True, False], ids=["BertForMaskedLM", "BertModel"])
def test_training_can_start_from_a_hugging_face_bert_checkpoint(tmp_path, mlm_head):
    """``--option backbone=FOLDER``: the checkpoint's sizes and vocabulary apply and, with lr 0, the trained
    reader's encoder IS the checkpoint (a BertModel's MLM head starts fresh)."""
    from zoo.nn import BertConfig, BertEncoder, export_hf_bert

    train = generated_qa(N_TRAIN, 0, seed=0).train
    tokenizer = bert_char_tokenizer([q.question for q in train] + [p.text for q in train for p in q.passages])
    config = BertConfig(
        vocab_size=tokenizer.get_vocab_size(), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=24, max_position_embeddings=120, mlm_head=mlm_head, pooler=True,
    )  # fmt: skip
    torch.manual_seed(123)  # not the recipe's seed 0: a fresh reader would equal a same-seed checkpoint
    bert = BertEncoder(config)
    export_hf_bert(bert, tmp_path / "bert", tokenizer=tokenizer)
    record = recipes.train(
        "mlm-qa", tmp_path / "run", preset="smoke", options={"backbone": str(tmp_path / "bert"), "lr": 0.0}
    )
    assert "backbone from " + str(tmp_path / "bert") in record["notes"] and record["reload_identical"]
    model = zoo.load(f"local-dir:{tmp_path / 'run'}")
    assert model.config.num_hidden_layers == 2 and model.config.max_position_embeddings == 120
    assert model.config.intermediate_size == 24 and model.max_p_len == 64  # the preset's lengths
    assert model.tokenizer.get_vocab() == tokenizer.get_vocab()
    ours = model.backbone.state_dict()
    theirs = bert.state_dict()
    compared = [k for k in theirs if not k.startswith("pooler.") and (mlm_head or not k.startswith("mlm."))]
    assert any(k.startswith("mlm.") for k in compared) == mlm_head
    for key in compared:
        assert torch.equal(ours[key], theirs[key]), key
    if mlm_head:  # at step 0 the reader's slot logits are the checkpoint's MLM logits
        ids = encode_inputs_batch(model.tokenizer, ["张伟是哪里人？"], ["张伟出生于江阳市"], 64, 32, 16)
        expected = bert.eval().mlm_logits(bert(ids))[:, 1:17]
        assert torch.allclose(model(ids), expected, atol=1e-5)


def test_bad_input_is_a_clear_error(tmp_path, trained):
    broken = tmp_path / "broken.json"
    broken.write_text('[{"id": 1, "question": "q", "passages": [}]', encoding="utf-8")
    with pytest.raises(zoo.RecipeError, match=rf"{broken} is not valid JSON"):
        recipes.train("mlm-qa", tmp_path / "a", data=broken, preset="smoke", model_args=TINY)
    code, _, stderr = cli("train", "mlm-qa", "--data", broken, "--out", tmp_path / "a2", "--preset", "smoke")
    assert code == 1 and f"{broken} is not valid JSON" in stderr
    no_dev = tmp_path / "nodev"
    no_dev.mkdir()
    write_json(no_dev / "train.json", sogou_records(list(generated_qa(10, 0, seed=0).train)))
    with pytest.raises(zoo.RecipeError, match=r"needs a train file .* and a dev file \(dev.json"):
        recipes.train("mlm-qa", tmp_path / "b", data=no_dev, preset="smoke", model_args=TINY)
    with pytest.raises(
        zoo.RecipeError, match=r"unknown preset 'huge'; choose one of \['cpu', 'paper', 'smoke'\]"
    ):
        recipes.train("mlm-qa", tmp_path / "c", preset="huge")
    for key, bad, message in (
        ("epochs", "many", "option epochs must be an integer"),
        ("lr", -1.0, "option lr must be a finite number"),
        ("dev_fraction", 0.7, "option dev_fraction must be a finite number"),
        ("pretrain_epochs", -1, "option pretrain_epochs must be an integer"),
        ("clip_norm", -0.5, "option clip_norm must be a finite number"),
    ):
        with pytest.raises(zoo.RecipeError, match=message):
            recipes.train("mlm-qa", tmp_path / "d", preset="smoke", options={key: bad}, model_args=TINY)
    with pytest.raises(
        zoo.RecipeError, match="has no option 'pretrain_epoch' \\(did you mean 'pretrain_epochs'"
    ):
        recipes.train("mlm-qa", tmp_path / "d", options={"pretrain_epoch": 1})
    out, _ = trained
    code, _, stderr = cli("eval", out, "--option", "decoder=beam")
    assert code == 1 and "decoder must be 'constrained' or 'unconstrained'; got 'beam'" in stderr
    code, _, stderr = cli("eval", out, "--data", broken)
    assert code == 1 and f"{broken} is not valid JSON" in stderr
    assert not any((tmp_path / n).exists() for n in ("a", "a2", "b", "c", "d"))


def test_answers_longer_than_the_slots_are_skipped_and_counted(tmp_path):
    """max_a_len 16 (smoke) holds answers of up to 15 tokens; longer ones are skipped in training."""
    questions = list(generated_qa(30, 0, seed=4).train)
    long_answer = "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳"  # 16 characters
    records = sogou_records(questions)
    for i in range(0, 30, 3):  # 10 questions, each with one passage holding a too-long answer
        records[i]["passages"] = [{"passage": f"答案是{long_answer}。", "answer": long_answer}]
    path = write_json(tmp_path / "long.json", records)
    record = recipes.train("mlm-qa", tmp_path / "run", data=path, preset="smoke", model_args=TINY)
    # dev_fraction 0.2 holds out i % 5 == 4: of i = 0, 3, ..., 27 that is 9, 24; 8 stay in training
    assert "8 training answers longer than max_a_len - 1 tokens skipped per epoch" in record["notes"]
    assert record["reload_identical"] is True


def test_clip_norm_clips_the_gradient_norm_before_each_update(tmp_path, monkeypatch):
    """``clip_norm=c``: every update sees gradients of global L2 norm <= c (recorded at each optimizer step);
    without it they are left as computed."""
    norms: list[float] = []

    def record(optimizer, args, kwargs):
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        norms.append(
            torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item()
        )

    from torch.optim.optimizer import register_optimizer_step_pre_hook

    handle = register_optimizer_step_pre_hook(record)
    try:
        clipped = recipes.train(
            "mlm-qa", tmp_path / "c", preset="smoke", options={"clip_norm": 0.05}, model_args=TINY
        )
        seen_clipped, norms[:] = list(norms), []
        recipes.train("mlm-qa", tmp_path / "p", preset="smoke", model_args=TINY)
        seen_plain = list(norms)
    finally:
        handle.remove()
    assert seen_clipped and max(seen_clipped) <= 0.05 * (1 + 1e-5)
    assert max(seen_plain) > 0.05  # so the clip did bite
    assert "gradients clipped to norm 0.05" in clipped["notes"]
