"""The extractor: padding invariance, the interpolated subject vector, batched object pass, the loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from zoo_dgcnn.model import DGCNNExtractor, interpolation_indices

P = 3


def small(subject_encoder: str | None = "gru", **kw: object) -> DGCNNExtractor:
    args = {
        "vocab_size": 30,
        "num_predicates": P,
        "dim": 16,
        "dilations": [1, 2, 5],
        "heads": 2,
        "head_dim": 4,
    }
    return DGCNNExtractor(**{**args, "subject_encoder": subject_encoder, **kw})


def randomize_positions(model: DGCNNExtractor) -> None:
    """The position table starts at zero; give it values so relative positions matter in the tests."""
    with torch.no_grad():
        model.embeddings.position.weight.normal_()


def batch(lengths: list[int], length: int | None = None) -> torch.Tensor:
    length = length or max(lengths)
    chars = torch.randint(1, 30, (len(lengths), length))
    return chars * (torch.arange(length)[None, :] < torch.tensor(lengths)[:, None])


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def test_interpolation_indices_of_the_spec() -> None:
    """round(k1 a + k2 (1 - a)), a = 0, .2, …, 1."""
    assert interpolation_indices(torch.tensor([[2, 7]])).tolist() == [[7, 6, 5, 4, 3, 2]]
    spans = torch.tensor([[0, 10], [4, 4], [0, 1], [3, 6]])
    expected = [[round(k1 * a / 5 + k2 * (1 - a / 5)) for a in range(6)] for k1, k2 in spans.tolist()]
    assert interpolation_indices(spans).tolist() == expected


@pytest.mark.parametrize("subject_encoder", ["gru", "gather", None])
def test_padding_invariance_through_the_whole_model(subject_encoder: str | None) -> None:
    model = small(subject_encoder).eval()
    randomize_positions(model)
    chars = batch([9, 6, 3])
    subjects = torch.tensor([[1, 4], [0, 5], [2, 2]])
    padded = torch.cat([chars, torch.zeros(3, 7, dtype=torch.long)], dim=1)
    with torch.no_grad():
        short, long = model(chars, subjects), model(padded, subjects)
    for a, b in zip(short, long, strict=True):
        torch.testing.assert_close(b[:, : chars.shape[1]], a, rtol=1e-5, atol=1e-6)
        assert (b[:, chars.shape[1] :] == 0).all()
    assert (short[0][1, 6:] == 0).all() and (short[2][2, 3:] == 0).all()  # zero at padding


def test_output_shapes_and_ranges() -> None:
    model = small()
    s1, s2, o1, o2 = model(batch([8, 5]), torch.tensor([[0, 1], [2, 4]]))
    assert s1.shape == s2.shape == (2, 8) and o1.shape == o2.shape == (2, 8, P)
    assert all(((t >= 0) & (t <= 1)).all() for t in (s1, s2, o1, o2))


def test_gru_subject_vector_reads_the_interpolated_positions_only() -> None:
    """For (0, 10) the GRU reads H at 10, 8, 6, 4, 2, 0: changing H[3] leaves the features alone."""
    model = small("gru").eval()
    hidden = torch.randn(1, 12, 16)
    subject = torch.tensor([[0, 10]])
    base = model._subject_features(hidden, subject)
    for position, moves in [(3, False), (5, False), (4, True), (10, True)]:
        bumped = hidden.clone()
        bumped[0, position] += 1.0
        assert (not torch.allclose(model._subject_features(bumped, subject), base)) == moves, position


def test_gather_subject_vector_is_h_at_both_ends_plus_relative_positions() -> None:
    model = small("gather").eval()
    randomize_positions(model)
    hidden = torch.randn(2, 7, 16)
    subjects = torch.tensor([[1, 3], [5, 5]])
    table = model.embeddings.position.weight
    pos = torch.arange(7)
    for n, (k1, k2) in enumerate(subjects.tolist()):
        vector = torch.cat([hidden[n, k1], hidden[n, k2]])
        relative = torch.cat([table[(pos - k1).abs()], table[(pos - k2).abs()]], dim=-1)
        torch.testing.assert_close(model._subject_features(hidden, subjects)[n], vector + relative)


def test_object_probs_batches_many_subjects_like_single_calls() -> None:
    """One object pass over (row, subject) pairs equals the one-subject-per-sentence forward."""
    model = small().eval()
    randomize_positions(model)
    chars = batch([9, 6])
    subjects = torch.tensor([[0, 2], [3, 8], [1, 1], [4, 5]])
    rows = torch.tensor([0, 0, 1, 1])
    with torch.no_grad():
        start, end = model.object_probs(model.encode(chars), subjects, rows)
        for n in range(4):
            _, _, o1, o2 = model(chars[rows[n]].unsqueeze(0), subjects[n].unsqueeze(0))
            torch.testing.assert_close(start[n], o1[0])
            torch.testing.assert_close(end[n], o2[0])


def test_the_ablation_object_head_knows_nothing_of_the_subject() -> None:
    chars = batch([10])
    with torch.no_grad():
        for encoder, differs in [(None, False), ("gru", True), ("gather", True)]:
            model = small(encoder).eval()
            randomize_positions(model)
            a = model(chars, torch.tensor([[0, 2]]))[2]
            b = model(chars, torch.tensor([[5, 9]]))[2]
            assert (not torch.allclose(a, b)) == differs, encoder


def targets(chars: torch.Tensor) -> tuple[torch.Tensor, ...]:
    b, n = chars.shape
    s1, s2 = (torch.rand(b, n) < 0.3).float(), (torch.rand(b, n) < 0.3).float()
    o1, o2 = (torch.rand(b, n, P) < 0.2).float(), (torch.rand(b, n, P) < 0.2).float()
    return s1, s2, o1, o2


def test_loss_matches_an_independent_reference() -> None:
    """Subject terms averaged over real characters; object terms summed over P, then averaged."""
    model = small().double().eval()
    chars, subjects = batch([9, 6, 4]), torch.tensor([[1, 3], [0, 0], [2, 3]])
    t = tuple(x.double() for x in targets(chars))
    got = model.loss(chars, subjects, *t)
    probs = model(chars, subjects)
    real = chars != 0
    subject = sum(F.binary_cross_entropy(probs[k][real], t[k][real], reduction="sum") for k in (0, 1))
    obj = sum(F.binary_cross_entropy(probs[k][real], t[k][real], reduction="sum") for k in (2, 3))
    count = real.sum()
    torch.testing.assert_close(got["subject"], subject / count)
    torch.testing.assert_close(got["object"], obj / count)
    torch.testing.assert_close(got["loss"], (subject + obj) / count)


def test_loss_ignores_padding() -> None:
    model = small().eval()
    chars, subjects = batch([9, 5]), torch.tensor([[1, 3], [0, 4]])
    t = targets(chars)
    base = model.loss(chars, subjects, *t)["loss"]
    pad = chars == 0
    noisy = [x.clone() for x in t]
    for x in noisy:
        x[pad] = 1.0 - x[pad]  # flip every target at padding
    torch.testing.assert_close(model.loss(chars, subjects, *noisy)["loss"], base, rtol=0, atol=0)
    padded = torch.cat([chars, torch.zeros(2, 4, dtype=torch.long)], dim=1)
    extra = [torch.cat([x, torch.ones(2, 4, *x.shape[2:])], dim=1) for x in t]
    torch.testing.assert_close(model.loss(padded, subjects, *extra)["loss"], base, rtol=1e-5, atol=1e-6)


def test_loss_is_finite_and_trains() -> None:
    model = small()
    chars, subjects = batch([9, 5]), torch.tensor([[1, 3], [0, 4]])
    loss = model.loss(chars, subjects, *targets(chars))["loss"]
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert torch.isfinite(loss) and all(torch.isfinite(g).all() for g in grads)
    assert model.subject_gru is not None
    assert model.subject_gru.weight_hh_l0.grad.abs().sum() > 0


def test_sizes_come_from_the_vocab_and_predicates() -> None:
    model = DGCNNExtractor(vocab=["<pad>", "<unk>", "甲", "乙"], predicates=["p", "q"], dim=8, heads=1)
    assert model.embeddings.chars.num_embeddings == 4 and model.num_predicates == 2
    with pytest.raises(ValueError, match="disagrees"):
        DGCNNExtractor(vocab=["<pad>", "<unk>", "x"], vocab_size=9, num_predicates=1)
    with pytest.raises(ValueError, match="<pad>"):
        DGCNNExtractor(vocab=["a", "b", "c"], num_predicates=1)
    with pytest.raises(ValueError, match="give predicates"):
        DGCNNExtractor(vocab_size=9)
    with pytest.raises(ValueError, match="subject_encoder"):
        small("lstm")


def test_bad_subject_spans_and_long_text_are_refused() -> None:
    model = small(max_len=12)
    chars = batch([6, 4])
    with pytest.raises(ValueError, match="k1 <= k2 < length"):
        model(chars, torch.tensor([[3, 2], [0, 1]]))
    with pytest.raises(ValueError, match="k1 <= k2 < length"):
        model(chars, torch.tensor([[0, 1], [2, 4]]))  # sentence 1 has 4 characters
    with pytest.raises(ValueError, match="length 13 exceeds max_len=12"):
        model(batch([13]), torch.tensor([[0, 1]]))


def test_builds_on_the_meta_device() -> None:
    """zoo.load builds models on the meta device before assigning weights."""
    with torch.device("meta"):
        model = small()
    assert next(model.parameters()).is_meta
