"""zoo.training in one process: training states as safetensors + JSON, resuming bit for bit through every
wrapper order and scheduler, the random generators, the data order, and the checks before a run starts.

The multi-process runs (DDP equals one process, SIGKILL and resume, dying ranks) are in
tests/test_distributed.py.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import zoo
from zoo import distributed, launch, recipes, train_state, training
from zoo.errors import CheckpointError, DistributedError, RecipeError


def config(tmp_path: Path, every: int = 0, resume: Path | None = None, **kw: Any) -> SimpleNamespace:
    fields = dict(
        name="example-mlp", data=None, seed=0, preset="cpu", device="cpu", options={}, model_args={}
    )
    fields.update(kw)
    return SimpleNamespace(
        **fields, checkpoint_every=every, checkpoint_dir=tmp_path / "state" if every else None, resume=resume
    )


# -- the tree of tensors and JSON ----------------------------------------------------------------------


def test_encode_decode_round_trip_keeps_types_keys_and_tensors():
    value = {
        "state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.randn(2, 3)}, 1: {}},
        "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1], "name": None, "flag": True}],
        "x": [float("inf"), -0.0, 2**40],
        "half": torch.arange(4, dtype=torch.bfloat16),
    }
    tensors: dict[str, torch.Tensor] = {}
    tree = json.loads(json.dumps(train_state.encode(value, "opt", tensors)))  # survives JSON
    back = train_state.decode(tree, tensors)
    assert back["param_groups"][0]["betas"] == (0.9, 0.999)  # a tuple again
    assert set(back["state"]) == {0, 1}  # int keys again
    assert torch.equal(back["state"][0]["exp_avg"], value["state"][0]["exp_avg"])
    assert back["half"].dtype == torch.bfloat16 and back["x"][0] == math.inf
    assert math.copysign(1, back["x"][1]) == -1
    assert back["param_groups"][0]["name"] is None and back["param_groups"][0]["flag"] is True


def test_encode_refuses_what_only_a_pickle_could_hold():
    with pytest.raises(RecipeError, match=r"opt.fn is a function"):
        train_state.encode({"fn": lambda: 0}, "opt", {})
    with pytest.raises(RecipeError, match="key"):
        train_state.encode({(1, 2): 0}, "opt", {})


@pytest.mark.parametrize(
    "tree",
    [{"tensor": "nope"}, {"dict": [[1]]}, {"value": {"a": 1}}, {"eval": "x"}, [], {"list": [], "x": 1}],
)
def test_decode_refuses_malformed_trees(tree):
    with pytest.raises(CheckpointError, match="malformed training state"):
        train_state.decode(tree, {})


def test_random_generators_round_trip():
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    random.gauss(0, 1)  # Python caches a second normal: it must come back too
    saved = train_state.rng_states()
    first = (random.random(), random.gauss(0, 1), np.random.rand(), np.random.randn(), torch.rand(3))
    train_state.set_rng_states(saved)
    again = (random.random(), random.gauss(0, 1), np.random.rand(), np.random.randn(), torch.rand(3))
    assert first[:4] == again[:4] and torch.equal(first[4], again[4])


# -- the data order ------------------------------------------------------------------------------------


def test_epoch_batches_cover_each_example_once_per_epoch_and_resume_mid_epoch():
    batches = training.EpochBatches(10, 4, seed=7)
    assert batches.per_epoch == 3  # 4 + 4 + 2
    epoch = torch.cat([batches(s) for s in range(3)])
    assert sorted(epoch.tolist()) == list(range(10))
    reference = [batches(s) for s in range(3, 8)]
    again = training.EpochBatches(10, 4, seed=7)
    for s in range(4):
        again(s)
    saved = again.state_dict()
    resumed = training.EpochBatches(10, 4, seed=999)
    resumed.load_state_dict(saved)
    assert all(
        torch.equal(a, b) for a, b in zip(reference[1:], [resumed(s) for s in range(4, 8)], strict=True)
    )
    assert training.EpochBatches(10, 4, drop_last=True).per_epoch == 2
    with pytest.raises(RecipeError, match="larger"):
        training.EpochBatches(3, 4, drop_last=True)


def test_epoch_batches_draw_what_the_recipes_drew_before():
    """The order the recipes computed inline before zoo.training: one randperm per epoch, sliced."""
    g = torch.Generator().manual_seed(5)
    batches = training.EpochBatches(7, 3, generator=torch.Generator().manual_seed(5))
    for step in range(6):
        if step % 3 == 0:
            order = torch.randperm(7, generator=g)
        assert torch.equal(batches(step), order[(step % 3) * 3 :][:3])


# -- resuming ------------------------------------------------------------------------------------------


def train(cfg: SimpleNamespace, spec: str, total: int, stop_at: int | None = None) -> dict[str, torch.Tensor]:
    """A small regression trained through TrainLoop with a derived-optimizer stack, a piecewise-linear LR
    schedule, EpochBatches and dropout (the global RNG); ``stop_at`` leaves the loop there (a kill)."""
    torch.manual_seed(0)
    x, y = torch.randn(40, 5), torch.randn(40, 1)
    model = zoo.load("example-mlp", in_features=5, hidden=8, num_classes=1)
    options: dict[str, Any] = {
        "adam": {"lr": 1e-2},
        "adamw": {"lr": 1e-2},
        "sgd": {"lr": 1e-2, "momentum": 0.9},
    }
    options["gradient_accumulation"] = {"steps": 2}
    names = spec.split("+")
    opt = zoo.load("derived-stack", params=model.parameters(), spec=spec,
                   **{k: v for k, v in options.items() if k in names})  # fmt: skip
    sched = zoo.load("piecewise-linear-lr", optimizer=opt, schedule={0: 1.0, total: 0.1})
    batches = training.EpochBatches(40, 8, seed=1)
    losses: list[float] = []
    loop = training.TrainLoop(cfg)
    state = {"model": model, "optimizer": opt, "scheduler": sched, "batches": batches, "losses": losses}
    for step in loop.steps(total, state):
        if step == stop_at:
            break
        idx = batches(step)
        out = F.dropout(model(x[idx]), 0.3)  # draws from torch's global generator
        loop.backward(F.mse_loss(out, y[idx]))
        opt.step()
        opt.zero_grad()
        sched.step()
        losses.append(step)
    return {**{k: v.clone() for k, v in model.state_dict().items()}, "losses": torch.tensor(losses)}


SPECS = ["adam", "ema+adam", "lookahead+gradient_accumulation+adamw", "gradient_accumulation+lookahead+adamw",
         "weight_decay+layer_adaptation+sgd", "lookahead+ema+adam"]  # fmt: skip


@pytest.mark.parametrize("spec", SPECS)
def test_resume_is_bit_identical_to_the_uninterrupted_run(tmp_path, spec, monkeypatch):
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    reference = train(config(tmp_path / "a"), spec, 13)
    killed = config(tmp_path / "b", every=4)
    train(killed, spec, 13, stop_at=10)  # states at 4 and 8; steps 8 and 9 are lost with the process
    assert json.loads((killed.checkpoint_dir / train_state.STATE_JSON).read_text())["step"] == 8
    resumed = train(config(tmp_path / "b", every=4, resume=killed.checkpoint_dir), spec, 13)
    assert reference.keys() == resumed.keys()
    assert all(torch.equal(reference[k], resumed[k]) for k in reference), spec


def test_a_state_folder_is_safetensors_and_json_only(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    cfg = config(tmp_path, every=5)
    train(cfg, "ema+adam", 6)
    names = sorted(p.name for p in cfg.checkpoint_dir.iterdir())
    assert names == [train_state.RNG_TENSORS, train_state.STATE_JSON, train_state.STATE_TENSORS]
    record = json.loads((cfg.checkpoint_dir / train_state.STATE_JSON).read_text())
    assert record["step"] == 5 and record["world_size"] == 1
    assert record["run"] == train_state.settings(cfg)
    assert set(record["objects"]) == {"model", "optimizer", "scheduler", "batches", "losses"}


def test_resume_refuses_other_runs_and_broken_states(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    cfg = config(tmp_path, every=5)
    train(cfg, "adam", 6)
    with pytest.raises(RecipeError, match=r"seed: state 0, this run 1.*give the same"):
        train_state.check_resume(cfg.checkpoint_dir, config(tmp_path, seed=1))
    with pytest.raises(CheckpointError, match=r"not a training state.*--checkpoint-every wrote"):
        train_state.read_state(tmp_path)
    with pytest.raises(CheckpointError, match=r"holds .*this recipe saves"):
        train_state.load_state(cfg.checkpoint_dir, {"model": torch.nn.Linear(1, 1)})
    with pytest.raises(CheckpointError, match="past this run's 3 steps"):
        train(config(tmp_path, resume=cfg.checkpoint_dir), "adam", 3)
    record = json.loads((cfg.checkpoint_dir / train_state.STATE_JSON).read_text())
    record["world_size"] = 2
    (cfg.checkpoint_dir / train_state.STATE_JSON).write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match=r"written by 2 process.*--nproc 2"):
        train(config(tmp_path, resume=cfg.checkpoint_dir), "adam", 13)
    (cfg.checkpoint_dir / train_state.STATE_TENSORS).write_bytes(b"\0" * 10)
    record["world_size"] = 1
    (cfg.checkpoint_dir / train_state.STATE_JSON).write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match="cannot read the tensors"):
        train(config(tmp_path, resume=cfg.checkpoint_dir), "adam", 13)


def test_a_kill_during_a_state_write_keeps_the_previous_state(tmp_path, monkeypatch):
    """What ZOO_FAULT=checkpoint:0:STEP does in a real run, here in-process: the write raises mid-way."""
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    cfg = config(tmp_path, every=4)
    train(cfg, "adam", 6)
    before = (cfg.checkpoint_dir / train_state.STATE_TENSORS).read_bytes()

    def die(kind: str, step: int) -> None:
        if kind == "checkpoint":
            raise KeyboardInterrupt  # as a signal would, after state.safetensors was written

    monkeypatch.setattr(train_state, "fault", die)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, "adam", 13)
    assert json.loads((cfg.checkpoint_dir / train_state.STATE_JSON).read_text())["step"] == 4
    assert (cfg.checkpoint_dir / train_state.STATE_TENSORS).read_bytes() == before


def test_fault_spec_errors_name_the_format(monkeypatch):
    monkeypatch.setenv(distributed.FAULT_ENV, "step:1")
    with pytest.raises(RecipeError, match="KIND:RANK:STEP"):
        distributed.fault("step", 0)
    monkeypatch.setenv(distributed.FAULT_ENV, "step:1:0")
    distributed.fault("step", 0)  # rank 1's fault: this process is rank 0 and lives


# -- before a run starts -------------------------------------------------------------------------------


def test_recipes_declare_what_they_support():
    from zoo import lookup

    with_recipes = [e.name for e in zoo.list() if lookup.registry().recipe_target(e.name) is not None]
    declared = {
        name: (getattr(r, "distributed", False), getattr(r, "resumable", False))
        for name in with_recipes
        for r in [recipes.get_recipe(name)]
    }
    assert {"example-mlp", "on-lstm-lm", "mlm-qa", "dgcnn-extractor", "cln-lm"} <= set(declared)
    assert all(flags == (True, True) for flags in declared.values()), declared  # every built-in recipe

    class OwnLoop:
        summary = "a recipe with its own loop"

    with pytest.raises(RecipeError, match=r"does not support distributed training.*without --nproc"):
        recipes.check_support(OwnLoop(), "x", 2, resumable=False)  # type: ignore[arg-type]
    with pytest.raises(RecipeError, match=r"cannot write or resume.*without --checkpoint-every"):
        recipes.check_support(OwnLoop(), "x", 1, resumable=True)  # type: ignore[arg-type]
    recipes.check_support(OwnLoop(), "x", 1, resumable=False)  # type: ignore[arg-type]


def test_torchrun_arguments():
    worker = ["train", "example-mlp"]
    assert launch.torchrun_args(worker, 2) == [
        "--nproc-per-node", "2", "--nnodes", "1", "--max-restarts", "0", "--standalone",
        "--module", "zoo", "train", "example-mlp",
    ]  # fmt: skip
    dynamic = launch.torchrun_args(worker, 4, nnodes=2, rdzv_endpoint="node0:29400")
    assert dynamic[6:12] == [
        "--rdzv-backend",
        "c10d",
        "--rdzv-endpoint",
        "node0:29400",
        "--rdzv-id",
        "zoo-train",
    ]
    static = launch.torchrun_args(worker, 4, nnodes=2, node_rank=1, rdzv_endpoint="10.0.0.1:29500")
    assert static[6:12] == ["--node-rank", "1", "--master-addr", "10.0.0.1", "--master-port", "29500"]
    with pytest.raises(DistributedError, match="needs --rdzv-endpoint"):
        launch.torchrun_args(worker, 2, nnodes=2)
    with pytest.raises(DistributedError, match="HOST:PORT"):
        launch.torchrun_args(worker, 2, nnodes=2, node_rank=0, rdzv_endpoint="node0")
    with pytest.raises(DistributedError, match=">= 1"):
        launch.torchrun_args(worker, 0)


def test_torchrun_parses_our_arguments():
    from torch.distributed.run import get_args_parser

    args = get_args_parser().parse_args(
        launch.torchrun_args(["train", "x", "--seed", "3"], 2, nnodes=2, node_rank=1, rdzv_endpoint="h:1")
    )
    assert (args.nproc_per_node, args.nnodes, args.node_rank, args.master_addr, args.master_port) == (
        "2", "2", 1, "h", 1,
    )  # fmt: skip
    assert args.module and args.training_script == "zoo"
    assert args.training_script_args == ["train", "x", "--seed", "3"]


def test_failures_are_described_by_the_rank_that_failed_first():
    class Failure(SimpleNamespace):
        def signal_name(self) -> str:
            return {-9: "SIGKILL", -15: "SIGTERM"}[self.exitcode]

    text = launch.describe_failures(
        {0: Failure(exitcode=-15, message="x"), 1: Failure(exitcode=-9, message="")}
    )
    assert text.startswith(
        "the distributed run failed: rank 1 was killed by SIGKILL; torchrun then stopped rank(s) 0"
    )
    text = launch.describe_failures(
        {0: Failure(exitcode=1, message={"message": "DistributedError: timed out"})}
    )
    assert "rank 0 exited 1 (DistributedError: timed out)" in text
    bare = launch.describe_failures({1: Failure(exitcode=2, message="To enable traceback see: https://x")})
    assert "rank 1 exited 2 (each rank's output" in bare  # torchrun's boilerplate is not the rank's error


def test_collective_errors_are_explained(monkeypatch):
    monkeypatch.setenv(distributed.TIMEOUT_ENV, "7")
    timeout = distributed.explain(
        RuntimeError("[gloo] Timed out waiting 7000ms for recv operation to complete")
    )
    assert isinstance(timeout, DistributedError) and "waited 7 s (ZOO_DIST_TIMEOUT)" in str(timeout)
    reset = distributed.explain(RuntimeError("Read error [127.0.0.1]:1: Connection reset by peer"))
    assert isinstance(reset, DistributedError) and "died" in str(reset)
    other = ValueError("x")
    assert distributed.explain(other) is other


def damaged(tmp_path: Path, monkeypatch) -> tuple[SimpleNamespace, Path]:
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    cfg = config(tmp_path, every=5)
    train(cfg, "adam", 6)
    return cfg, cfg.checkpoint_dir


def rewrite_json(folder: Path, change) -> None:
    record = json.loads((folder / train_state.STATE_JSON).read_text())
    change(record)
    (folder / train_state.STATE_JSON).write_text(json.dumps(record))


def test_a_damaged_state_is_a_checkpoint_error_never_a_crash(tmp_path, monkeypatch):
    """Each damage found by review once surfaced as a KeyError, TypeError or a later crash mid-training."""
    from safetensors.torch import load_file, save_file

    _, folder = damaged(tmp_path, monkeypatch)
    resume = config(tmp_path, resume=folder)
    rng = load_file(str(folder / train_state.RNG_TENSORS))
    save_file({k: v for k, v in rng.items() if k != "rank0.python"}, str(folder / train_state.RNG_TENSORS))
    with pytest.raises(CheckpointError, match="rank 0's random generators"):
        train(resume, "adam", 13)
    python = rng["rank0.python"].clone()
    python[5] = -1  # random.setstate raises OverflowError on it
    save_file({**rng, "rank0.python": python}, str(folder / train_state.RNG_TENSORS))
    with pytest.raises(CheckpointError, match="rank 0's random generators"):
        train(resume, "adam", 13)
    save_file(rng, str(folder / train_state.RNG_TENSORS))

    def scheduler_gets_a_key(record):  # LambdaLR-style load_state_dict would set it as an attribute
        record["objects"]["scheduler"]["dict"].append(["step", {"value": 3}])

    rewrite_json(folder, scheduler_gets_a_key)
    with pytest.raises(CheckpointError, match=r"scheduler: saved keys .*'step'"):
        train(resume, "adam", 13)

    for bad in ({"value": True}, {"value": -1}, {"value": "5"}):
        fresh, _ = damaged(tmp_path / str(len(str(bad))), monkeypatch)
        rewrite_json(fresh.checkpoint_dir, lambda r, bad=bad: r.update(step=bad["value"]))
        with pytest.raises(CheckpointError, match="its step"):
            train_state.read_state(fresh.checkpoint_dir)

    (folder / train_state.STATE_JSON).write_text('{"a": ' * 100_000 + "1" + "}" * 100_000)
    with pytest.raises(CheckpointError, match="RecursionError"):
        train_state.read_state(folder)


def test_a_state_with_tensors_of_other_shapes_or_an_order_that_is_no_permutation_is_refused(
    tmp_path, monkeypatch
):
    from safetensors.torch import load_file, save_file

    _, folder = damaged(tmp_path, monkeypatch)
    tensors = load_file(str(folder / train_state.STATE_TENSORS))
    weight = next(k for k in tensors if k.startswith("model.") and k.endswith("weight"))
    save_file({**tensors, weight: tensors[weight][:1]}, str(folder / train_state.STATE_TENSORS))
    with pytest.raises(CheckpointError, match=rf"model\.{weight[6:]}: saved \(1, "):
        train(config(tmp_path, resume=folder), "adam", 13)
    save_file(
        {**tensors, "batches.order": torch.zeros(40, dtype=torch.long)},
        str(folder / train_state.STATE_TENSORS),
    )
    with pytest.raises(CheckpointError, match=r"not a permutation of range\(40\)"):
        train(config(tmp_path, resume=folder), "adam", 13)


def test_every_rank_draws_its_own_noise_and_rank_0_keeps_the_seed(tmp_path, monkeypatch):
    draws = {}
    for rank in (0, 1):
        monkeypatch.setattr(training, "world", lambda rank=rank: (rank, 2))
        recipes.seed_everything(0)
        training.TrainLoop(config(tmp_path))
        draws[rank] = (torch.rand(4), random.random(), np.random.rand())
    recipes.seed_everything(0)
    assert torch.equal(draws[0][0], torch.rand(4)) and draws[0][1] == random.random()
    assert not torch.equal(draws[0][0], draws[1][0]) and draws[0][1:] != draws[1][1:]


def test_item_is_the_plain_loss_in_one_process(tmp_path):
    loop = training.TrainLoop(config(tmp_path))
    loss = torch.tensor(0.123456789, dtype=torch.float32)
    assert loop.item(loss) == loss.item() and loop.item(loss, count=7) == loss.item()


def test_the_recorded_command_is_what_the_user_typed(monkeypatch):
    monkeypatch.setattr("sys.argv", ["/x/zoo/__main__.py", "train", "example-mlp", "--out", "a b"])
    monkeypatch.delenv(recipes.COMMAND_ENV, raising=False)
    assert recipes.main_command() == "python -m zoo train example-mlp --out 'a b'"
    monkeypatch.setenv(recipes.COMMAND_ENV, "zoo train example-mlp --nproc 2")
    assert recipes.main_command() == "zoo train example-mlp --nproc 2"  # what a rank of --nproc records


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--nproc", "0"], "--nproc and --nnodes take numbers >= 1"),
        (["--node-rank", "1"], "give --nnodes N too"),
        (["--rdzv-endpoint", "h:1"], "give --nnodes N too"),
        (["--checkpoint-dir", "x"], "--checkpoint-dir without --checkpoint-every"),
        (["--checkpoint-every", "-3"], "--checkpoint-every takes a number of steps >= 1"),
    ],
)
def test_train_flags_that_would_be_ignored_are_refused(tmp_path, capsys, flags, message):
    from zoo.cli import main

    assert main(["train", "example-mlp", "--out", str(tmp_path / "run"), *flags]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_ctrl_c_on_the_launcher_is_an_interrupt(monkeypatch):
    import signal as signals

    import torch.distributed.run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException

    def interrupted(args):
        raise SignalException("got signal 2", signals.SIGINT)

    monkeypatch.setattr(torchrun, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        launch.run(launch.torchrun_args(["train", "x"], 2))
