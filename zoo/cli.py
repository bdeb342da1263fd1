"""The ``zoo`` command: list, info, plugins, train, eval, push, pull (+ plugin commands).

``--json`` output schemas are stable (docs/cli.md):

- ``zoo list --json``: ``[{name, kind, plugin, article, summary, aliases, tags}]``
- ``zoo info NAME --json``: the entry's catalog fields + ``tag``, ``plugin_version``, ``recipe``,
  ``data_format``, ``target``; a sampler's ``per_call`` (for ``NAME.tag``: the variant's summary, defaults
  and hub, + ``entry_summary``)
- ``zoo plugins --json``: ``[{name, distribution, version, hooks, entries, error}]``
- ``zoo train … --json``: the run's results record (``results.json``)
- ``zoo eval … --json``: ``{entry, tag, name, checkpoint, metrics, reference, data, trained_on, warnings}``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import textwrap
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo import api
from zoo._version import __version__
from zoo.errors import DistributedError, ZooError


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def cmd_list(args: argparse.Namespace) -> int:
    entries = api.list_entries(args.pattern, kind=args.kind, plugin=args.plugin)
    if args.json:
        keys = ("name", "kind", "plugin", "article", "summary", "aliases", "tags")
        _print_json([{k: e.to_dict()[k] for k in keys} for e in entries])
        return 0
    if not entries:
        print("no entries match" if args.pattern or args.kind or args.plugin else "no entries installed")
    else:
        rows = [("NAME", "KIND", "PLUGIN", "SUMMARY")]
        for e in entries:
            name = e.name + "".join(f" (.{t})" for t in e.tags)
            rows.append((name, e.kind, e.plugin, e.summary))
        print(_table(rows))
    failed = api.host().failed()
    if failed:
        print(
            f"\n{len(failed)} plugin(s) failed to load: {', '.join(failed)} (see `zoo plugins`)",
            file=sys.stderr,
        )
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    data = api.info(args.name)
    if args.json:
        _print_json(data)
        return 0
    width = max(len(k) for k in data)
    for key, value in data.items():
        if isinstance(value, dict | list):
            value = json.dumps(value, ensure_ascii=False) if value else "—"
        print(f"{key.ljust(width)}  {value if value is not None else '—'}")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    infos = api.plugins()
    problems = []
    if args.check:
        from zoo import plugin_check

        problems = plugin_check.check()
    failed = any(i.error for i in infos) or bool(problems)
    if args.json:
        records = [i.to_dict() for i in infos]
        if args.check:
            for record in records:
                record["problems"] = [p.message for p in problems if p.plugin == record["name"]]
        _print_json(records)
        return 1 if failed and args.check else 0
    if not infos:
        print("no plugins installed (entry point group 'zoo')")
        return 0
    rows = [("PLUGIN", "VERSION", "ENTRIES", "STATUS")]
    for i in infos:
        rows.append(
            (i.name, i.version or "—", ", ".join(i.entries) or "—", f"ERROR: {i.error}" if i.error else "ok")
        )
    print(_table(rows))
    if args.check:
        print(f"\n{len(problems)} problem(s) found by --check" + (":" if problems else ""))
        for p in problems:
            print(f"  {p.plugin}: {p.message}")
    return 1 if failed and args.check else 0


EXPONENT_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")  # YAML 1.1 reads 1e-3 as a string


def _key_values(pairs: list[str] | None, flag: str) -> dict[str, Any]:
    """``["epochs=3", "lr=1e-3"]`` -> ``{"epochs": 3, "lr": 0.001}`` (values read as YAML scalars).

    PyYAML follows YAML 1.1, where ``1e-3`` (no dot) is a string; such numbers are read as floats.
    """
    import yaml

    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise ZooError(f"{flag} takes KEY=VALUE, got {pair!r}")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        if isinstance(value, str) and EXPONENT_NUMBER.fullmatch(value.strip()):
            value = float(value)
        out[key.strip()] = value
    return out


def worker_argv(args: argparse.Namespace, out: str) -> list[str]:
    """``train NAME ...`` as each rank of ``--nproc`` runs it (the launcher's own flags left out)."""
    argv = ["--debug"] if args.debug else []
    argv += ["train", args.name, "--out", out, "--seed", str(args.seed), "--preset", args.preset]
    argv += ["--device", args.device, "--checkpoint-every", str(args.checkpoint_every)]
    for flag, value in (
        ("--data", args.data),
        ("--checkpoint-dir", args.checkpoint_dir),
        ("--resume", args.resume),
    ):
        if value is not None:
            argv += [flag, value]
    for flag, pairs in (("--option", args.option), ("--set", args.set)):
        for pair in pairs or []:
            argv += [flag, pair]
    return [*argv, "--json"] if args.json else argv


def cmd_train(args: argparse.Namespace) -> int:
    from zoo import recipes

    out = args.out or f"runs/{args.name}"
    human = sys.stderr if args.json else sys.stdout  # with --json, stdout holds only the JSON record
    check_train_flags(args)
    if args.nproc > 1 or args.nnodes > 1:
        return launch_train(args, out)
    from zoo import distributed

    try:
        record = recipes.train(
            args.name,
            out,
            data=args.data,
            seed=args.seed,
            preset=args.preset,
            device=args.device,
            command=recipes.main_command(),
            options=_key_values(args.option, "--option"),
            model_args=_key_values(args.set, "--set"),
            checkpoint_every=args.checkpoint_every,
            checkpoint_dir=args.checkpoint_dir,
            resume=args.resume,
        )
    except Exception as exc:
        if not distributed.launched():
            raise
        from torch.distributed.elastic.multiprocessing.errors import ErrorHandler

        explained = distributed.explain(exc)
        ErrorHandler().record_exception(explained)  # torchrun's error file: the launcher names the error
        if explained is exc:
            raise
        raise explained from exc
    finally:
        distributed.teardown()
    if not distributed.is_main():
        return 0  # rank 0 reports
    print(f"\n{record['name']}: {record['summary']}  ({record['wall_time_s']} s)", file=human)
    print(recipes.format_metrics(record["metrics"], record["reference"]), file=human)
    if record.get("notes"):
        print(f"note: {record['notes']}", file=human)
    files = ", ".join(sorted(p.name for p in Path(out).iterdir() if p.is_file()))
    print(f"\nsaved to {out} ({files})", file=human)
    if record.get("reload_identical"):
        print(f'reloaded with zoo.load("local-dir:{out}"): outputs identical', file=human)
    if args.json:
        _print_json(record)
    return 0


def check_train_flags(args: argparse.Namespace) -> None:
    """Refuse flags that would be ignored or mean nothing, before any work."""
    if args.nproc < 1 or args.nnodes < 1:
        raise ZooError(f"--nproc and --nnodes take numbers >= 1 (got {args.nproc}, {args.nnodes})")
    if args.nnodes == 1 and (args.node_rank is not None or args.rdzv_endpoint is not None):
        raise ZooError("--node-rank and --rdzv-endpoint are for several machines: give --nnodes N too")
    if args.checkpoint_dir is not None and not args.checkpoint_every:
        raise ZooError(
            "--checkpoint-dir without --checkpoint-every STEPS: no training state would be written"
        )
    if args.checkpoint_every < 0:
        raise ZooError(f"--checkpoint-every takes a number of steps >= 1, got {args.checkpoint_every}")


def launch_train(args: argparse.Namespace, out: str) -> int:
    """``zoo train --nproc N`` / ``--nnodes``: check the recipe, then start the ranks with torchrun."""
    from zoo import distributed, launch, recipes

    if distributed.launched():
        raise DistributedError(
            "--nproc / --nnodes inside a torchrun worker: give them to zoo train or to torchrun, not both"
        )
    resumable = bool(args.checkpoint_every or args.resume)
    recipes.check_support(
        recipes.get_recipe(args.name), args.name, args.nproc * args.nnodes, resumable=resumable
    )  # before starting N processes
    os.environ[recipes.COMMAND_ENV] = recipes.main_command()  # what the ranks record in results.json
    launch.run(
        launch.torchrun_args(
            worker_argv(args, out),
            args.nproc,
            nnodes=args.nnodes,
            node_rank=args.node_rank,
            rdzv_endpoint=args.rdzv_endpoint,
        )
    )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from zoo import recipes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the report's warnings are printed below, once, readably
        options = _key_values(args.option, "--option")
        if args.predictions is not None:  # shorthand for --option predictions=FILE
            options["predictions"] = args.predictions
        report = recipes.evaluate(args.target, data=args.data, device=args.device, options=options)
    for message in report["warnings"]:
        print(f"zoo: WARNING: {message}", file=sys.stderr)
    if args.json:
        _print_json(report)
    else:
        print(f"{report['name']} ({report['checkpoint']}) on {report['data']}")
        print(recipes.format_metrics(report["metrics"], report["reference"]))
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from zoo import hub, publish

    try:  # publish.push checks the folder (missing, not a folder, not loadable) before any request
        oid = publish.push(
            args.dir,
            args.repo_id,
            revision=args.revision,
            private=args.private or None,
            commit_message=args.message,
            tag=args.tag,
        )
    except ZooError:
        raise
    except Exception as exc:  # huggingface_hub / network errors publish.push did not name
        raise hub.HubError(f"pushing {args.dir} to {args.repo_id!r} failed: {_describe(exc)}") from exc
    print(f"pushed {args.dir} to {args.repo_id}@{args.revision or 'main'} (commit {oid[:12]})")
    if args.tag:
        print(f'tagged {args.tag}: zoo.load("hf-hub:{args.repo_id}@{args.tag}")')
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from zoo import hub

    try:
        dest = hub.pull(args.spec, args.dir)
    except ZooError:
        raise
    except Exception as exc:  # huggingface_hub / network errors hub.pull did not name
        raise hub.HubError(f"pulling {args.spec!r} into {args.dir} failed: {_describe(exc)}") from exc
    print(f'pulled {args.spec} to {dest}: zoo.load("local-dir:{dest}")')
    return 0


def cmd_new_plugin(args: argparse.Namespace) -> int:
    from zoo.scaffold import new_plugin

    dest = new_plugin(args.name, args.dir, sampler=args.sampler, optimizer=args.optimizer)
    print(f"wrote {dest}:")
    for path in sorted(p for p in dest.rglob("*") if p.is_file()):
        print(f"  {path.relative_to(dest)}")
    print(f"next: pip install -e {dest} && zoo plugins && pytest {dest / 'tests'}")
    return 0


DATA_HELP = (
    "your data, in the format NAME's recipe states (a folder or a file: `zoo train NAME --help` or "
    "`zoo info NAME` says which); default: the recipe's embedded data. Recorded in the run as an absolute "
    "path, which `zoo eval RUN` scores again"
)


def train_epilog(name: str | None) -> str:
    """The end of ``zoo train [NAME] --help``: NAME's recipe, its ``--data`` format and options."""
    if not name:
        return "`zoo train NAME --help` shows NAME's --data format, presets and options."
    from zoo import recipes

    try:
        recipe = recipes.get_recipe(name)
    except Exception as exc:  # a broken recipe must not take --help down
        return f"{name}: {exc}"
    options = getattr(recipe, "options", {}) or {}
    parts = [
        f"{name}: {recipe.summary}",
        f"--data for {name}: {recipes.data_format(name, recipe)}",
        "--option for {}: {}".format(name, ", ".join(f"{k}={v!r}" for k, v in options.items()) or "none"),
        "--nproc / --nnodes for {}: {}; --checkpoint-every / --resume: {}".format(
            name,
            "yes" if getattr(recipe, "distributed", False) else "no (its recipe runs in one process)",
            "yes" if getattr(recipe, "resumable", False) else "no",
        ),
    ]
    return "\n".join(textwrap.fill(p, 100, subsequent_indent="  ") for p in parts)


def _train_name(argv: Sequence[str]) -> str | None:
    """NAME in ``zoo train NAME ... --help`` (None for anything else)."""
    if len(argv) < 2 or argv[0] != "train" or not {"-h", "--help"} & set(argv):
        return None
    return next((a for a in argv[1:] if not a.startswith("-")), None)


def build_parser(with_plugins: bool = True, train_name: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoo", description="kexue-zoo: the models of kexue.fm articles.")
    parser.add_argument("--version", action="version", version=f"kexue-zoo {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error (also: ZOO_DEBUG=1)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("list", help="list installed entries")
    p.add_argument("pattern", nargs="?", help="shell-style wildcard on names, e.g. 'gumbel*'")
    p.add_argument("--kind", choices=["model", "sampler", "optimizer"])
    p.add_argument("--plugin", help="only entries of this plugin")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("info", help="show one entry: article, summary, defaults, Hub weights, plugin")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("plugins", help="list plugins with their hooks, entries and errors")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--check",
        action="store_true",
        help="also import every entry's target and time each plugin's discovery imports (subprocesses); "
        "exit 1 if any plugin failed or has a problem",
    )
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser(
        "train",
        help="train an entry with its recipe, evaluate, save and verify the reload",
        epilog=train_epilog(train_name),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name")
    p.add_argument("--data", metavar="PATH", help=DATA_HELP)
    p.add_argument("--out", help="checkpoint folder (default runs/NAME)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--preset", default="cpu", help="size preset of the recipe (default: cpu)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="a recipe option (repeatable)")
    p.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="a model argument (repeatable), e.g. hidden=128"
    )
    p.add_argument("--json", action="store_true", help="print the results record as JSON (text on stderr)")
    g = p.add_argument_group("distributed training (torch.distributed, launched with torchrun)")
    g.add_argument(
        "--nproc",
        type=int,
        default=1,
        metavar="N",
        help="processes on this node, each a DDP rank (default 1)",
    )
    g.add_argument("--nnodes", type=int, default=1, metavar="N", help="machines taking part (default 1)")
    g.add_argument(
        "--node-rank", type=int, metavar="R", help="this machine's rank 0..N-1 (static rendezvous; else c10d)"
    )
    g.add_argument(
        "--rdzv-endpoint", metavar="HOST:PORT", help="the rendezvous (node 0's address), with --nnodes"
    )
    g = p.add_argument_group("resumable training")
    g.add_argument(
        "--checkpoint-every",
        type=int,
        default=0,
        metavar="STEPS",
        help="write a training state every STEPS optimizer steps (model, optimizer, scheduler, data order, "
        "random generators; replaced atomically)",
    )
    g.add_argument(
        "--checkpoint-dir", metavar="DIR", help="where the training state goes (default OUT-state)"
    )
    g.add_argument("--resume", metavar="DIR", help="continue from a training state folder")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="evaluate a checkpoint folder, local-dir:, hf-hub: or pretrained entry")
    p.add_argument("target")
    p.add_argument(
        "--data",
        metavar="PATH",
        help="data to score (only its test split is read); default: the data the run was trained on",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--option",
        action="append",
        metavar="KEY=VALUE",
        help="an evaluation option of the recipe (repeatable), e.g. predictions=out.json",
    )
    p.add_argument(
        "--predictions",
        metavar="FILE",
        help="write the model's predictions there (= --option predictions=FILE; recipes that offer it)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("push", help="push a checkpoint folder to the Hub in one commit")
    p.add_argument("dir")
    p.add_argument("repo_id")
    p.add_argument("--revision", "--branch", dest="revision", help="branch to commit to (default main)")
    p.add_argument("--private", action="store_true")
    p.add_argument("--tag", help="tag the new commit, e.g. v1")
    p.add_argument("--message", help="commit message")
    p.set_defaults(func=cmd_push)

    p = sub.add_parser("pull", help="download a checkpoint (org/repo[@rev]) into a folder")
    p.add_argument("spec")
    p.add_argument("dir")
    p.set_defaults(func=cmd_pull)

    p = sub.add_parser("new-plugin", help="write a new plugin distribution (zoo-NAME/) that passes its tests")
    p.add_argument("name", help="the plugin's name, e.g. highway (entries highway-mlp, ...)")
    p.add_argument("--dir", default=".", help="where to write zoo-NAME/ (default: here)")
    p.add_argument("--sampler", action="store_true", help="also a sampler entry (NAME-temperature)")
    p.add_argument("--optimizer", action="store_true", help="also an optimizer entry (NAME-signsgd)")
    p.set_defaults(func=cmd_new_plugin)

    if with_plugins:
        host = api.host()
        for impl in host.pm.hook.zoo_register_commands.get_hookimpls():
            try:
                impl.function(cli=sub)
            except Exception as exc:  # a broken plugin command must not take the CLI down
                info = host.plugins.get(impl.plugin_name)
                if info is not None:
                    info.error = f"zoo_register_commands failed: {type(exc).__name__}: {exc}"
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Plugin commands are only collected when they may be wanted: `zoo list` stays fast, and
    # `zoo plugins` reports a plugin whose command hook fails.
    own = {"list", "info", "train", "eval", "push", "pull", "new-plugin", "--version"}
    rest = [a for a in argv if a != "--debug"]
    parser = build_parser(with_plugins=not rest or rest[0] not in own, train_name=_train_name(rest))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    debug = args.debug or os.environ.get("ZOO_DEBUG", "") not in ("", "0")
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
        return status
    except ZooError as exc:
        if debug:
            raise
        print(f"zoo: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("zoo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `zoo list --json | head -1`: the reader left; stop quietly, as cat does
        _drop_stdout()
        return 141  # what a shell reports for a command ended by SIGPIPE (128 + 13)
    except Exception as exc:  # the last resort: a message, not a traceback
        if debug:
            raise
        print(f"zoo: error: {_describe(exc)}\n(run with --debug for the traceback)", file=sys.stderr)
        return 1


def _drop_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot raise BrokenPipeError again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (a test's capture): nothing to flush
        pass


def _describe(exc: BaseException) -> str:
    """``Type: message`` (the first lines of a long message) for an error the CLI did not expect."""
    text = str(exc).strip()
    lines = text.splitlines()
    if len(lines) > 5:
        text = "\n".join([*lines[:5], "..."])
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
