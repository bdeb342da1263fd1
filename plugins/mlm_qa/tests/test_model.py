"""The MLM reader: slot logits are the encoder's MLM logits at positions 1..max_a_len, padding changes
nothing, the loss is the hand cross-entropy over non-pad targets only, and BERT's 15 % / 80-10-10
masking with its MLM loss."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from zoo_mlm_qa.model import IGNORE, MLMReader, mask_tokens

from zoo.text import SpecialIds

SPECIAL = SpecialIds(pad=0, unk=1, cls=2, sep=3, mask=4)
V, A = 13, 4


def tiny(**overrides: Any) -> MLMReader:
    sizes: dict[str, Any] = {
        "vocab_size": V,
        "hidden_size": 16,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 32,
        "max_position_embeddings": 32,
        "max_a_len": A,
        "max_q_len": 6,
        "max_p_len": 12,
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
    }
    torch.manual_seed(0)
    return MLMReader(**{**sizes, **overrides}).eval()


def inputs() -> torch.Tensor:
    """Two rows ``[CLS] [MASK]*4 [SEP] q [SEP] p [SEP]``, the second right-padded."""
    return torch.tensor(
        [
            [2, 4, 4, 4, 4, 3, 5, 6, 3, 7, 8, 9, 10, 3],
            [2, 4, 4, 4, 4, 3, 6, 3, 11, 12, 3, 0, 0, 0],
        ]
    )


def test_forward_is_the_mlm_head_at_the_answer_slots(one_torch_thread: None) -> None:
    model, ids = tiny(), inputs()
    with torch.no_grad():
        logits = model(ids)
        full = model.backbone.mlm_logits(model.backbone(ids))
    assert logits.shape == (2, A, V)
    torch.testing.assert_close(logits, full[:, 1 : 1 + A])


def test_padding_changes_nothing(one_torch_thread: None) -> None:
    model, ids = tiny(), inputs()
    with torch.no_grad():
        alone = model(ids[1:, :11])
        padded = model(ids)[1:]
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=1e-5)


def test_loss_is_the_hand_cross_entropy_over_non_pad_targets(one_torch_thread: None) -> None:
    model, ids = tiny(), inputs()
    targets = torch.tensor([[7, 8, 3, 0], [3, 0, 0, 0]])  # "pq" + [SEP] and "no answer"
    with torch.no_grad():
        logp = model(ids).log_softmax(-1)
        loss = model.loss(ids, targets)
    picked = [-logp[0, 0, 7], -logp[0, 1, 8], -logp[0, 2, 3], -logp[1, 0, 3]]
    torch.testing.assert_close(loss, torch.stack(picked).mean())
    # the pad slots are not scored: whatever the model says there, the loss is the same
    assert not torch.isclose(loss, F.cross_entropy(model(ids).reshape(-1, V), targets.reshape(-1)))


def test_loss_trains_the_slots(one_torch_thread: None) -> None:
    model, ids = tiny(), inputs()
    targets = torch.tensor([[7, 8, 3, 0], [11, 3, 0, 0]])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(60):
        loss = model.loss(ids, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        best = model.eval()(ids).argmax(-1)
    assert best[0, :3].tolist() == [7, 8, 3] and best[1, :2].tolist() == [11, 3]


def test_mask_tokens_follows_bert(one_torch_thread: None) -> None:
    ids = torch.randint(5, 200, (200, 500))
    ids[:, 0], ids[:, -1], ids[:, 250] = SPECIAL.cls, SPECIAL.sep, SPECIAL.pad
    g = torch.Generator().manual_seed(0)
    masked, labels = mask_tokens(ids, SPECIAL, g, vocab_size=200)
    picked = labels != IGNORE
    assert not picked[:, [0, 250, -1]].any()  # special tokens are never picked
    assert torch.equal(labels[picked], ids[picked]) and torch.equal(masked[~picked], ids[~picked])
    n = int(picked.sum())
    assert abs(n / (200 * 497) - 0.15) < 0.005
    to_mask = (masked == SPECIAL.mask) & picked
    changed = (masked != ids) & picked & ~to_mask
    kept = (masked == ids) & picked
    assert abs(int(to_mask.sum()) / n - 0.8) < 0.01
    assert abs(int(kept.sum()) / n - 0.1) < 0.01  # (a random draw equal to the token is rare: ~0.05 %)
    assert abs(int(changed.sum()) / n - 0.1) < 0.01
    assert int(masked[changed].min()) >= 5  # random replacements are ordinary tokens
    again = mask_tokens(ids, SPECIAL, torch.Generator().manual_seed(0), vocab_size=200)
    assert torch.equal(again[0], masked) and torch.equal(again[1], labels)


def test_mlm_loss_is_the_hand_cross_entropy_at_labelled_positions(one_torch_thread: None) -> None:
    model, ids = tiny(), inputs()
    labels = torch.full_like(ids, IGNORE)
    labels[0, 7], labels[1, 9] = 6, 12
    with torch.no_grad():
        logp = model.backbone.mlm_logits(model.backbone(ids)).log_softmax(-1)
        loss = model.mlm_loss(ids, labels)
    torch.testing.assert_close(loss, -(logp[0, 7, 6] + logp[1, 9, 12]) / 2)
    zero = model.mlm_loss(ids, torch.full_like(ids, IGNORE))
    assert zero.item() == 0.0 and zero.requires_grad


def test_errors() -> None:
    with pytest.raises(ValueError, match="exceeds max_position_embeddings 32"):
        tiny(max_p_len=30)
    model = tiny()
    with pytest.raises(ValueError, match="answer slots"):
        model(torch.zeros((1, 3), dtype=torch.long))
    with pytest.raises(ValueError, match=r"targets must be \(B, max_a_len\)"):
        model.loss(inputs(), torch.zeros((2, 3), dtype=torch.long))
    with pytest.raises(ValueError, match="rate"):
        mask_tokens(inputs(), SPECIAL, vocab_size=V, rate=0.0)
