"""Plugin discovery: isolation of failures, strict mode, allow-list, all-or-nothing registration."""

from __future__ import annotations

import types

import pytest

import zoo
from zoo import hookimpl
from zoo.errors import PluginError
from zoo.plugins import PluginHost


class Good:
    @hookimpl
    def zoo_register_models(self, register):
        register(
            "good-linear",
            "torch.nn:Linear",
            summary="a linear layer",
            defaults={"in_features": 3, "out_features": 2},
        )

    @hookimpl
    def zoo_register_samplers(self, register):
        register("good-sampler", "zoo_example.sampler:TemperatureSampler", summary="s")


class RaisesInHook:
    @hookimpl
    def zoo_register_models(self, register):
        register("half-registered", "torch.nn:Linear", summary="x")
        raise RuntimeError("boom in hook")


class WrongSignature:
    @hookimpl
    def zoo_register_models(self, register, extra):
        pass


class MisspeltHook:
    @hookimpl
    def zoo_register_modles(self, register):
        pass


class Duplicate:
    @hookimpl
    def zoo_register_models(self, register):
        register("good-linear", "torch.nn:Linear", summary="clash")
        register("dup-only-mine", "torch.nn:Linear", summary="fine")


def test_good_plugin_registers_entries(make_host):
    host = make_host(good=Good())
    assert sorted(host.registry.names()) == ["good-linear", "good-sampler"]
    info = host.plugins["good"]
    assert info.error is None and info.distribution == "zoo-good" and info.version == "9.9"
    assert info.hooks == ["zoo_register_models", "zoo_register_samplers"]
    assert info.entries == ["good-linear", "good-sampler"]


def test_import_error_is_isolated_and_named(make_host):
    host = make_host(broken=ImportError("No module named 'tensorflow'"), good=Good())
    assert "good-linear" in host.registry
    assert host.plugins["broken"].error == "failed to import: ImportError: No module named 'tensorflow'"


def test_exception_in_hook_registers_nothing_of_that_plugin(make_host):
    host = make_host(bad=RaisesInHook(), good=Good())
    assert "half-registered" not in host.registry  # all or nothing
    assert "good-linear" in host.registry
    assert "failed to register: RuntimeError: boom in hook" in host.plugins["bad"].error


class MisnamedArgument:
    @hookimpl
    def zoo_register_samplers(self, registry):
        pass


def test_wrong_hook_signature_names_the_plugin(make_host):
    host = make_host(wrongsig=WrongSignature(), good=Good())
    err = host.plugins["wrongsig"].error
    assert err == (
        "invalid hook implementation: zoo_register_models(register, extra): 'extra' is not an argument of "
        "this hook; it takes `register` (def zoo_register_models(register))"
    )
    assert "good-linear" in host.registry


def test_a_misnamed_hook_argument_is_one_line_with_the_fix(make_host, capsys, use_host):
    host = use_host(make_host(misnamed=MisnamedArgument(), good=Good()))
    err = host.plugins["misnamed"].error
    assert "\n" not in err and "'registry' is not an argument" in err and "it takes `register`" in err
    from zoo.cli import main

    assert main(["plugins"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert len(rows) == 1 + len(host.plugins)  # one row per plugin: the table holds
    assert any(r.startswith("misnamed") and "it takes `register`" in r for r in rows)


def test_misspelt_hook_gets_a_suggestion(make_host):
    host = make_host(typo=MisspeltHook(), good=Good())
    assert "did you mean 'zoo_register_models'" in host.plugins["typo"].error
    assert "good-linear" in host.registry


class DuplicateRecipe:
    @hookimpl
    def zoo_register_models(self, register):
        register("recipe-clash-model", "torch.nn:Linear", summary="fine")

    @hookimpl
    def zoo_register_recipes(self, register):
        register("no-such-model", "zoo_example.recipe:SpiralRecipe")  # a model nobody registers


def test_duplicate_across_plugins_names_both_and_registers_nothing_of_the_late_one(make_host):
    host = make_host(good=Good(), zdup=Duplicate())  # loaded in name order: good first
    info = host.plugins["zdup"]
    assert "'zdup'" in info.error and "'good'" in info.error and "good-linear" in info.error
    assert host.registry.resolve("good-linear").entry.plugin == "good"
    assert "dup-only-mine" not in host.registry  # all or nothing: the clash undoes its other entries
    assert info.entries == [] and info.attempted == ["good-linear", "dup-only-mine"]
    assert not host.pm.has_plugin("zdup")  # nor are its other hooks (commands) left behind
    assert host.failed_provider("dup-only-mine") is info and host.failed_provider("good-linear") is info


def test_a_recipe_that_fails_undoes_the_plugins_entries(make_host):
    host = make_host(good=Good(), recipeclash=DuplicateRecipe())
    assert "recipe-clash-model" not in host.registry
    assert host.plugins["recipeclash"].attempted == ["recipe-clash-model"]
    assert host.registry.resolve("good-linear").entry.plugin == "good"


def test_loading_a_name_of_a_failed_third_party_plugin_names_the_plugin(use_host, make_host):
    use_host(make_host(good=Good(), zdup=Duplicate()))
    with pytest.raises(zoo.UnknownEntryError) as exc:
        zoo.load("dup-only-mine")
    assert "'dup-only-mine' is provided by plugin 'zdup', which failed to load" in str(exc.value)
    assert "clashes with the name registered by plugin 'good'" in str(exc.value)
    with pytest.raises(zoo.UnknownEntryError, match="plugin 'zdup', which failed"):
        zoo.info("dup-only-mine")
    use_host(make_host(good=Good(), bad=RaisesInHook()))
    with pytest.raises(zoo.UnknownEntryError, match=r"'half-registered\.tagged' is provided by plugin 'bad'"):
        zoo.load("half-registered.tagged")


def test_a_plugin_that_failed_to_import_is_named_as_a_possible_provider(use_host, make_host):
    use_host(make_host(good=Good(), highway=ImportError("No module named 'flax'")))
    with pytest.raises(zoo.UnknownEntryError) as exc:
        zoo.load("highway-mlp")
    message = str(exc.value)
    assert "no entry named 'highway-mlp'" in message
    assert "'highway' (failed to import: ImportError: No module named 'flax')" in message
    use_host(make_host(good=Good()))  # nothing failed: the plain message
    with pytest.raises(zoo.UnknownEntryError, match="no entry named 'highway-mlp'") as exc:
        zoo.load("highway-mlp")
    assert "failed" not in str(exc.value)


def test_strict_mode_reraises(make_host, monkeypatch):
    with pytest.raises(PluginError, match="plugin 'bad': failed to register"):
        make_host(strict=True, bad=RaisesInHook())
    monkeypatch.setenv("ZOO_STRICT_PLUGINS", "1")
    from zoo_test_models import FakeEntryPoint

    with pytest.raises(PluginError, match="plugin 'broken': failed to import"):
        PluginHost([FakeEntryPoint("broken", ImportError("x"))]).load()


def test_allow_list_env_loads_only_named_plugins(monkeypatch):
    from zoo_test_models import FakeEntryPoint

    monkeypatch.setenv("ZOO_PLUGINS", "good, other")
    host = PluginHost(
        [FakeEntryPoint("good", Good()), FakeEntryPoint("bad", ImportError("never imported"))]
    ).load()
    assert list(host.plugins) == ["good"]


def test_plugin_module_with_hooks_as_functions(make_host):
    mod = types.ModuleType("zoo_fake_mod")

    @hookimpl
    def zoo_register_optimizers(register):
        register("fake-sgd", "torch.optim:SGD", summary="sgd", defaults={"lr": 0.1})

    mod.zoo_register_optimizers = zoo_register_optimizers  # type: ignore[attr-defined]
    host = make_host(fakemod=mod)
    assert host.registry.resolve("fake-sgd").entry.kind == "optimizer"


def test_recipe_for_unknown_model_is_a_plugin_error(make_host):
    class BadRecipe:
        @hookimpl
        def zoo_register_recipes(self, register):
            register("no-such-model", "x:y")

    host = make_host(r=BadRecipe())
    assert "no-such-model" in host.plugins["r"].error


def test_installed_plugins_load_cleanly():
    """The real discovery path over installed distributions (the example plugin at least)."""
    zoo.reset()
    infos = {i.name: i for i in zoo.plugins()}
    assert "example" in infos and infos["example"].error is None
    assert infos["example"].distribution == "zoo-example"
    assert {"example-mlp", "example-temperature", "example-signsgd"} <= set(infos["example"].entries)


def test_register_plugin_at_runtime(use_host, make_host):
    use_host(make_host())
    info = zoo.register_plugin(Good(), "notebook")
    assert info.error is None
    assert zoo.load("good-linear").out_features == 2


class BrokenTargets:
    @hookimpl
    def zoo_register_models(self, register):
        register("no-module", "zoo_no_such_module:Model", summary="x")
        register("no-attribute", "torch.nn:NoSuchLayer", summary="y")


def test_a_target_that_does_not_import_is_a_zoo_error_naming_entry_plugin_and_target(use_host, make_host):
    use_host(make_host(broken=BrokenTargets()))
    with pytest.raises(zoo.TargetImportError) as exc:
        zoo.load("no-module")
    message = str(exc.value)
    assert "model 'no-module' of plugin 'broken'" in message and "'zoo_no_such_module:Model'" in message
    assert "ModuleNotFoundError" in message and "zoo plugins --check" in message
    assert isinstance(exc.value, ImportError)  # code that catches ImportError still does
    with pytest.raises(
        zoo.TargetImportError, match=r"'torch.nn:NoSuchLayer' does not import: AttributeError"
    ):
        zoo.load("no-attribute")


BROKEN_PLUGIN = """
import json  # light: fine
import numpy  # heavy at discovery: --check names it

from zoo import hookimpl


@hookimpl
def zoo_register_models(register):
    register("zoo-checked-missing-module", "zoo_checked_nowhere:Model", summary="x")
    register("zoo-checked-missing-attr", "zoo_checked_plugin:NoSuchFactory", summary="y")
"""


def test_zoo_plugins_check_imports_every_target_of_an_installed_plugin(tmp_path):
    """A real installed distribution (a dist-info folder with its entry point on the path)."""
    import os
    import subprocess
    import sys

    (tmp_path / "zoo_checked_plugin.py").write_text(BROKEN_PLUGIN)
    dist = tmp_path / "zoo_checked-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: zoo-checked\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[zoo]\nchecked = zoo_checked_plugin\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "ZOO_PLUGINS": "checked,example"}
    plain = subprocess.run(
        [sys.executable, "-m", "zoo.cli", "plugins"], capture_output=True, text=True, env=env, check=False
    )
    assert plain.returncode == 0 and "checked" in plain.stdout  # discovery alone sees nothing wrong
    done = subprocess.run(
        [sys.executable, "-m", "zoo.cli", "plugins", "--check"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    out = " ".join(done.stdout.split())
    assert "3 problem(s) found by --check" in out
    assert (
        "model 'zoo-checked-missing-module' of plugin 'checked': its target 'zoo_checked_nowhere:Model'"
        in out
    )
    assert "'zoo_checked_plugin:NoSuchFactory' does not import: AttributeError" in out
    assert "checked: its hooks module imports numpy when zoo discovers plugins" in out
    assert "example:" not in out  # the example plugin is clean
