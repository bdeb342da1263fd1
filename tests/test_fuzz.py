"""Bad input, generated (hypothesis): every file a checkpoint or a catalog is made of, fuzzed, gives a
ZooError or a correct result — never a crash of another type, never a silent acceptance (issue 18).

The example counts are the ``EXAMPLES`` settings below; docs/security.md quotes them.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zoo
from zoo import catalog, checkpoint, modelcard
from zoo.errors import CatalogError, CheckpointError, ZooError
from zoo.plugins import PluginHost

EXAMPLES = 150
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    """A valid checkpoint of example-mlp (hidden 8) to mutate."""
    folder = tmp_path_factory.mktemp("good") / "mlp"
    zoo.save(zoo.load("example-mlp", hidden=8, depth=1), folder)
    return folder


def copy_of(good: Path, tmp: Path) -> Path:
    dest = tmp / "case"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(good, dest)
    return dest


@FUZZ
@given(
    config=st.one_of(
        JSON,
        st.fixed_dictionaries({"architecture": st.text(max_size=20) | JSON, "model_args": JSON}),
        st.fixed_dictionaries(
            {"architecture": st.just("example-mlp")},
            optional={
                "model_args": st.dictionaries(st.sampled_from(["hidden", "depth", "in_features", "x"]), JSON)
            },
        ),
    )
)
def test_a_fuzzed_config_json_is_a_zoo_error_or_loads_what_it_says(good, tmp_path, config):
    folder = copy_of(good, tmp_path)
    (folder / "config.json").write_text(json.dumps(config))
    try:
        model = zoo.load(f"local-dir:{folder}")
    except ZooError:
        return
    # accepted: only a config that names example-mlp with arguments that build the saved weights' shapes
    assert config["architecture"] == "example-mlp"
    assert model.zoo_config.model_args == config.get("model_args", {})


@FUZZ
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_config_json_bytes_that_are_not_json_are_a_checkpoint_error(good, tmp_path, raw):
    folder = copy_of(good, tmp_path)
    (folder / "config.json").write_bytes(raw)
    try:
        json.loads(raw)
    except ValueError:
        with pytest.raises(CheckpointError):
            checkpoint.read_config(folder)


def header_and_body(path: Path) -> tuple[dict[str, Any], bytes]:
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + size]), data[8 + size :]


def with_header(header: dict[str, Any], body: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body


@FUZZ
@given(cut=st.integers(min_value=0, max_value=10_000))
def test_a_truncated_safetensors_file_is_a_checkpoint_error(good, tmp_path, cut):
    folder = copy_of(good, tmp_path)
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: cut % len(data)])
    with pytest.raises(CheckpointError):
        zoo.load(f"local-dir:{folder}")


@FUZZ
@given(
    data=st.data(),
    field=st.sampled_from(["shape", "data_offsets", "dtype"]),
)
def test_a_header_lying_about_shapes_offsets_or_dtypes_is_refused(good, tmp_path, data, field):
    folder = copy_of(good, tmp_path)
    weights = folder / "model.safetensors"
    header, body = header_and_body(weights)
    name = data.draw(st.sampled_from(sorted(k for k in header if k != "__metadata__")))
    entry = header[name]
    if field == "shape":
        lie = data.draw(
            st.lists(st.integers(min_value=0, max_value=64), max_size=3).filter(lambda s: s != entry["shape"])
        )
    elif field == "data_offsets":
        lie = data.draw(
            st.lists(st.integers(min_value=0, max_value=2 * len(body)), min_size=2, max_size=2).filter(
                lambda o: o != entry["data_offsets"]
            )
        )
    else:
        lie = data.draw(
            st.sampled_from(["F16", "BF16", "F64", "I64", "I8", "U8", "BOOL", "XX"]).filter(
                lambda d: d != entry["dtype"]
            )
        )
    header[name] = {**entry, field: lie}
    weights.write_bytes(with_header(header, body))
    try:
        model = zoo.load(f"local-dir:{folder}")
    except ZooError:
        return
    # accepted only if the lie is self-consistent and fits the model: then the values are the file's
    state = model.state_dict()
    assert field == "dtype" and state[name].dtype == torch.float32  # cast like any fp16 file


@FUZZ
@given(
    weight_map=st.dictionaries(
        st.sampled_from(["net.0.weight", "net.0.bias", "head.weight", "head.bias", "other"]),
        st.sampled_from(
            ["model-00001-of-00002.safetensors", "missing.safetensors", "", ".", "../x.safetensors"]
        ),
        max_size=5,
    )
    | JSON
)
def test_a_fuzzed_index_of_a_sharded_checkpoint_is_a_checkpoint_error(good, tmp_path, weight_map):
    folder = copy_of(good, tmp_path)
    (folder / "model.safetensors").rename(folder / "model-00001-of-00002.safetensors")
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map})
    )
    with pytest.raises(ZooError):  # no fuzzed map names every key of the one real shard correctly
        zoo.load(f"local-dir:{folder}")


@FUZZ
@given(text=st.text(max_size=300) | JSON.map(lambda v: "schema: 1\n" + json.dumps(v)))
def test_a_fuzzed_registry_yaml_is_a_catalog_error_or_a_catalog(text):
    try:
        parsed = catalog.parse(text, "fuzzed.yaml")
    except CatalogError:
        return
    assert all(isinstance(e.name, str) and e.name for e in parsed.entries)


@FUZZ
@given(front=JSON, body=st.text(max_size=100))
def test_a_fuzzed_model_card_front_matter_never_crashes_a_push(front, body):
    import yaml

    text = f"---\n{yaml.safe_dump(front)}---\n{body}"
    owned = modelcard.owned_files(text)
    assert owned is None or all(isinstance(n, str) for n in owned)
    meta, rest = modelcard.split_front_matter(text)
    assert isinstance(meta, dict) and isinstance(rest, str)


REGISTER_ARGUMENTS = {
    "summary": st.integers() | st.lists(st.text(max_size=3), max_size=2) | st.none(),
    "defaults": st.text(max_size=5) | st.lists(st.integers(), max_size=2) | st.integers(),
    "aliases": st.integers() | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    "tags": st.text(max_size=5) | st.lists(st.text(max_size=3), max_size=2) | st.integers(),
    "hub": st.integers() | st.text(max_size=8).filter(lambda s: "/" not in s or "@" not in s),
}


@FUZZ
@given(data=st.data(), key=st.sampled_from(sorted(REGISTER_ARGUMENTS)))
def test_a_hook_registering_wrong_types_fails_alone_and_names_the_plugin(data, key):
    value = data.draw(REGISTER_ARGUMENTS[key])
    arguments = {"summary": "fine", key: value}

    class Wrong:
        @zoo.hookimpl
        def zoo_register_models(self, register: Any) -> None:
            register("fuzzed-model", "zoo_example.model:SpiralMLP", **arguments)

    class Good:
        @zoo.hookimpl
        def zoo_register_models(self, register: Any) -> None:
            register("fine-model", "zoo_example.model:SpiralMLP", summary="fine")

    from zoo_test_models import FakeEntryPoint

    host = PluginHost([FakeEntryPoint("good", Good()), FakeEntryPoint("wrong", Wrong())], allow=None).load()
    assert "fine-model" in host.registry
    if "fuzzed-model" in host.registry:  # accepted: only values of the right type (e.g. an empty hub string)
        entry = host.registry.resolve("fuzzed-model").entry
        assert isinstance(entry.summary, str) and isinstance(dict(entry.defaults), dict)
        return
    info = host.plugins["wrong"]
    assert info.error and not info.entries


def test_the_security_page_quotes_every_fuzz_test_and_its_example_count():
    page = (Path(__file__).resolve().parents[1] / "docs" / "security.md").read_text(encoding="utf-8")
    fuzz_tests = [
        name for name in globals() if name.startswith("test_") and hasattr(globals()[name], "hypothesis")
    ]
    rows = [line for line in page.splitlines() if line.startswith("| ") and "`test_" in line]
    for name in fuzz_tests:
        row = next((r for r in rows if r.endswith(f"| `{name}` |")), None)  # the fuzz table's row
        assert row is not None, f"docs/security.md has no row for {name}"
        assert f"| {EXAMPLES} |" in row, f"docs/security.md's row for {name} does not say {EXAMPLES} examples"
    assert f"runs each property on {EXAMPLES} inputs" in page
