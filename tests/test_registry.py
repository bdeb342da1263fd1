"""The registry: names, aliases, tags, resolution, duplicates, filters."""

from __future__ import annotations

import pytest

from zoo.errors import DuplicateEntryError, RegistrationError, UnknownEntryError
from zoo.registry import HubWeights, Registry, make_entry


def reg_with(*entries):
    r = Registry()
    for e in entries:
        r.add(e)
    return r


def entry(name, kind="model", plugin="p", **kw):
    return make_entry(kind, plugin, name, "torch.nn:Linear", summary=f"{name} summary", **kw)


def test_resolve_name_alias_and_tag():
    r = reg_with(entry("on-lstm", aliases=["onlstm"], tags={"ptb": {"defaults": {"chunk_size": 10}}}))
    assert r.resolve("on-lstm").entry.name == "on-lstm"
    assert r.resolve("onlstm").entry.name == "on-lstm"
    res = r.resolve("on-lstm.ptb")
    assert res.tag == "ptb" and res.defaults == {"chunk_size": 10}
    assert r.resolve("onlstm.ptb").tag == "ptb"


def test_tag_defaults_override_entry_defaults():
    r = reg_with(entry("m", defaults={"a": 1, "b": 2}, tags={"big": {"defaults": {"b": 20}}}))
    assert r.resolve("m.big").defaults == {"a": 1, "b": 20}
    assert r.resolve("m").defaults == {"a": 1, "b": 2}


def test_unknown_name_suggests_close_matches():
    r = reg_with(entry("gumbel-softmax"), entry("gumbel-max", kind="sampler"))
    with pytest.raises(UnknownEntryError) as exc:
        r.resolve("gumbel-sofmax")
    assert "'gumbel-softmax'" in str(exc.value) and "did you mean" in str(exc.value)
    with pytest.raises(UnknownEntryError, match="no entry named 'zzz' \\(`zoo list`"):
        r.resolve("zzz")


def test_unknown_tag_lists_tags():
    r = reg_with(entry("m", tags={"a": None, "b": None}))
    with pytest.raises(UnknownEntryError, match="has no tag 'c' \\(its tags: a, b\\)"):
        r.resolve("m.c")


def test_duplicate_name_names_both_plugins():
    r = reg_with(entry("lamb", kind="optimizer", plugin="derived_optim"))
    with pytest.raises(DuplicateEntryError) as exc:
        r.add(entry("lamb", kind="optimizer", plugin="thirdparty"))
    assert "'thirdparty'" in str(exc.value) and "'derived_optim'" in str(exc.value)


def test_alias_clashing_with_a_name_is_a_duplicate():
    r = reg_with(entry("vae", plugin="vib"))
    with pytest.raises(DuplicateEntryError, match=r"plugin 'other'.*plugin 'vib'"):
        r.add(entry("my-vae", plugin="other", aliases=["vae"]))
    assert "my-vae" not in r  # nothing half-added


@pytest.mark.parametrize("bad", ["On-LSTM", "on.lstm", "hf-hub:x", "", "-x", "a b", None])
def test_invalid_names_are_rejected(bad):
    with pytest.raises(RegistrationError, match="invalid name"):
        entry(bad)


def test_registration_validates_fields():
    with pytest.raises(RegistrationError, match="aliases must be a list"):
        entry("m", aliases="mm")
    with pytest.raises(RegistrationError, match="unknown kind"):
        make_entry("dataset", "p", "m", "a:b")  # type: ignore[arg-type]
    with pytest.raises(RegistrationError, match="'module:attribute'"):
        make_entry("model", "p", "m", "no_colon")
    with pytest.raises(RegistrationError, match="unknown field"):
        entry("m", tags={"t": {"weights": "x"}})


def test_hub_weights_must_be_pinned():
    assert str(HubWeights.parse("org/repo@v1")) == "org/repo@v1"
    assert HubWeights.parse({"repo_id": "a/b", "revision": "abc"}) == HubWeights("a/b", "abc")
    for bad in ("org/repo", "repo@v1", "a/b/c@v1", "org/repo@"):
        with pytest.raises(RegistrationError, match="pinned to a revision"):
            HubWeights.parse(bad)


def test_filter_by_kind_plugin_and_wildcard():
    r = reg_with(
        entry("gumbel-softmax", kind="sampler", plugin="reparam"),
        entry("gumbel-max", kind="sampler", plugin="reparam"),
        entry("gs-vae", plugin="reparam", aliases=["gumbel-vae"]),
        entry("lamb", kind="optimizer", plugin="derived_optim"),
    )
    names = lambda es: [e.name for e in es]  # noqa: E731
    assert names(r.filter(kind="sampler")) == ["gumbel-max", "gumbel-softmax"]
    assert names(r.filter(plugin="derived_optim")) == ["lamb"]
    assert names(r.filter(pattern="gumbel*")) == ["gs-vae", "gumbel-max", "gumbel-softmax"]  # alias matches
    assert names(r.filter(pattern="gumbel*", kind="model")) == ["gs-vae"]
    assert r.filter(pattern="nothing*") == []
    with pytest.raises(ValueError, match="unknown kind"):
        r.filter(kind="models")


def test_entries_are_immutable_records():
    e = entry("m", defaults={"a": 1})
    with pytest.raises(TypeError):
        e.defaults["a"] = 2  # type: ignore[index]
