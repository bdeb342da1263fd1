"""``zoo train`` across processes: DDP with 2 CPU processes (gloo) equals one process with the same global
batch, for recipes of five plugins; runs killed by SIGKILL (between steps, and during a state write) and
resumed end bit-identical to the uninterrupted run, in one process and in two; a rank that dies or hangs
ends the job with a clear error instead of a hang.

Every run is a real ``python -m zoo train`` (torchrun for ``--nproc 2``); faults come from ``ZOO_FAULT``
(docs/reliability.md) or from this test's own ``kill -9``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import zoo
from zoo import distributed, train_state

NO_DROPOUT = ["--set", "hidden_dropout_prob=0", "--set", "attention_probs_dropout_prob=0"]
ON_LSTM = ["--option", "epochs=3", "--option", "bptt=20"] + [
    arg for rate in ("dropout", "dropouth", "dropouti", "dropoute", "wdrop") for arg in ("--set", f"{rate}=0")
]  # 3 epochs of about 10 steps of variable length
# (name, arguments, absolute tolerance after the smoke preset's steps). Adam divides each gradient by its
# own running scale, so a parameter whose gradient is near zero moves by up to a step whichever way its
# rounding falls: the tolerance is a fraction of one step (lr 1e-3 for vib-mnist, 3e-3 for example-mlp).
RECIPES = [
    ("example-mlp", [], 1e-5),
    ("vib-mnist.baseline", [], 1e-4),  # the ema wrapper around Adam (derived_optim), Alemi's lr decay
    ("cln-lm", NO_DROPOUT, 1e-5),  # a piecewise-linear LR schedule; a loss averaged over tokens
    ("mlm-qa", [*NO_DROPOUT, "--option", "epochs=3"], 1e-5),  # per-epoch pairs drawn with random.Random
    ("dgcnn-extractor", ["--set", "dropout=0", "--set", "gate_dropout=0"], 1e-4),  # ema 0.9 around Adam 3e-3
    ("on-lstm-lm", ON_LSTM, 1e-5),  # each rank its share of the stream's columns and their hidden states
]
SLOW = {"mlm-qa", "dgcnn-extractor"}  # in the slow command, to keep the default suite short


def cases(rows: list[tuple]) -> list:
    """``rows`` as pytest params, those of the SLOW recipes marked slow."""
    return [pytest.param(*row, id=row[0], marks=[pytest.mark.slow] if row[0] in SLOW else []) for row in rows]


def env(**extra: str) -> dict[str, str]:
    out = {**os.environ, "ZOO_PROGRESS": "0", "OMP_NUM_THREADS": "1", **extra}
    out.pop(distributed.FAULT_ENV, None)
    out.update(extra)
    return out


def zoo_train(name: str, out: Path, *args: str, nproc: int = 1, **extra: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "zoo", "train", name, "--preset", "smoke", "--out", str(out), *args]
    if nproc > 1:
        argv += ["--nproc", str(nproc)]
    return subprocess.run(argv, capture_output=True, text=True, env=env(**extra), timeout=600)


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model.safetensors"))


def identical(a: Path, b: Path) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Callable[[str, int], Path]:
    """The uninterrupted run of a recipe (smoke preset) in ``nproc`` processes, trained once per module."""
    root = tmp_path_factory.mktemp("reference")
    runs: dict[tuple[str, int], Path] = {}

    def get(name: str, nproc: int) -> Path:
        if (name, nproc) not in runs:
            extra = next(args for n, args, _ in RECIPES if n == name)
            out = root / f"{name}-{nproc}"
            done = zoo_train(name, out, *extra, nproc=nproc)
            assert done.returncode == 0, done.stderr[-3000:]
            runs[name, nproc] = out
        return runs[name, nproc]

    return get


@pytest.mark.parametrize(("name", "args", "atol"), cases(RECIPES))
def test_two_processes_equal_one_with_the_same_global_batch(reference, name, args, atol):
    one, two = reference(name, 1), reference(name, 2)
    record = json.loads((two / "results.json").read_text())
    assert record["processes"] == 2 and json.loads((one / "results.json").read_text())["processes"] == 1
    w1, w2 = weights(one), weights(two)
    assert w1.keys() == w2.keys()
    worst = max((w1[k].double() - w2[k].double()).abs().max().item() for k in w1)
    assert worst <= atol, f"{name}: largest difference {worst:.2e} > {atol:.0e}"
    assert not identical(one, two)  # two processes really ran: their rounding differs somewhere
    # and the shared rows really differ between the ranks: one rank's half alone trains another model
    assert worst > 0


def resumed_after_fault(name: str, tmp: Path, fault: str, every: int, nproc: int = 1) -> Path:
    """Run ``name`` with ``ZOO_FAULT=fault`` (killed), then resume it from its state folder."""
    extra = next(args for n, args, _ in RECIPES if n == name)
    out, state = tmp / "run", tmp / "run-state"
    killed = zoo_train(name, out, *extra, "--checkpoint-every", str(every), nproc=nproc, ZOO_FAULT=fault)
    assert killed.returncode != 0 and not out.exists(), killed.stderr[-2000:]
    if nproc == 1:
        assert killed.returncode == -signal.SIGKILL
    done = zoo_train(name, out, *extra, "--checkpoint-every", str(every), "--resume", str(state), nproc=nproc)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((out / "results.json").read_text())["resumed_from"] == str(state)
    return out


@pytest.mark.parametrize(
    ("name", "fault", "every"),
    cases(
        [
            ("example-mlp", "step:0:100", 40),
            ("vib-mnist.baseline", "step:0:12", 5),
            ("cln-lm", "step:0:7", 3),
            ("mlm-qa", "step:0:4", 3),  # resumed mid-epoch: the epoch's pairs and order come from the state
            ("dgcnn-extractor", "step:0:6", 3),  # random.Random drives the order and the augmentation
            ("on-lstm-lm", "step:0:7", 5),  # mid-epoch: position, hidden state, SGD's lr scaled by length
        ]
    ),
)
def test_a_run_killed_between_steps_resumes_bit_identical(reference, tmp_path, name, fault, every):
    assert identical(resumed_after_fault(name, tmp_path, fault, every), reference(name, 1))


@pytest.mark.parametrize(
    ("name", "fault", "every"),
    [("example-mlp", "step:1:90", 40), ("on-lstm-lm", "step:1:7", 5)],  # on-lstm-lm: hidden states gathered
)
def test_two_processes_killed_and_resumed_end_bit_identical(reference, tmp_path, name, fault, every):
    out = resumed_after_fault(name, tmp_path, fault, every, nproc=2)  # rank 1 dies
    assert identical(out, reference(name, 2))


def test_a_kill_during_a_state_write_resumes_from_the_previous_state(reference, tmp_path):
    out, state = tmp_path / "run", tmp_path / "run-state"
    killed = zoo_train("example-mlp", out, "--checkpoint-every", "40", ZOO_FAULT="checkpoint:0:80")
    assert killed.returncode == -signal.SIGKILL
    assert json.loads((state / train_state.STATE_JSON).read_text())["step"] == 40  # not the half-written 80
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".run-state.tmp-")]
    assert len(leftovers) == 1 and (leftovers[0] / train_state.STATE_TENSORS).exists()
    done = zoo_train("example-mlp", out, "--checkpoint-every", "40", "--resume", str(state))
    assert done.returncode == 0, done.stderr[-3000:]
    assert identical(out, reference("example-mlp", 1))
    assert not leftovers[0].exists()  # the next state write cleared the dead process's folder


def test_a_run_killed_from_outside_resumes_bit_identical(tmp_path):
    """``kill -9`` at whatever step the process is in once its first state exists."""
    args = ["--preset", "cpu", "--checkpoint-every", "100"]
    whole = zoo_train("example-mlp", tmp_path / "whole", *args)
    assert whole.returncode == 0, whole.stderr[-2000:]
    out, state = tmp_path / "run", tmp_path / "run-state"
    argv = [sys.executable, "-m", "zoo", "train", "example-mlp", "--out", str(out), *args]
    process = subprocess.Popen(argv, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while (
        not (state / train_state.STATE_JSON).exists()
        and process.poll() is None
        and time.monotonic() < deadline
    ):
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    at = json.loads((state / train_state.STATE_JSON).read_text())["step"]
    assert 100 <= at < 1500
    done = zoo_train("example-mlp", out, *args, "--resume", str(state))
    assert done.returncode == 0, done.stderr[-3000:]
    assert identical(out, tmp_path / "whole")


def test_the_torchrun_command_runs_the_same_training(reference, tmp_path):
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
            "-m", "zoo", "train", "example-mlp", "--preset", "smoke", "--out", str(out)]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, env=env(), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert identical(out, reference("example-mlp", 2))
    assert done.stdout.count("saved to") == 1  # rank 0 alone reports and saves


def test_a_rank_that_dies_ends_the_job_with_its_name(tmp_path):
    start = time.monotonic()
    done = zoo_train("example-mlp", tmp_path / "run", nproc=2, ZOO_FAULT="step:1:30")
    assert done.returncode == 1
    assert "zoo: error: the distributed run failed: rank 1 was killed by SIGKILL" in done.stderr
    assert time.monotonic() - start < 120 and not (tmp_path / "run").exists()


def test_a_rank_that_hangs_times_out_instead_of_hanging(tmp_path):
    start = time.monotonic()
    done = zoo_train("example-mlp", tmp_path / "run", nproc=2, ZOO_FAULT="hang:1:30", ZOO_DIST_TIMEOUT="5")
    assert done.returncode == 1
    assert "rank 0 exited 1 (DistributedError: rank 0 of 2: a collective waited 5 s" in done.stderr
    assert "stopped answering" in done.stderr and time.monotonic() - start < 120


class OwnLoop:
    """A plugin whose recipe keeps its own loop: it declares neither distributed nor resumable."""

    class Recipe:
        summary = "its own loop"

        def train(self, config):
            raise AssertionError("never reached: the flags are refused before training")

        def evaluate(self, model, data, device="cpu"):
            return {}

    @zoo.hookimpl
    def zoo_register_models(self, register):
        register("own-loop-mlp", "zoo_example.model:MLP", summary="an MLP")

    @zoo.hookimpl
    def zoo_register_recipes(self, register):
        register("own-loop-mlp", OwnLoop.Recipe)


def test_a_recipe_without_distributed_support_is_refused_before_launch(tmp_path, capsys, monkeypatch):
    from torch.distributed import run as torchrun

    from zoo.cli import main

    monkeypatch.setattr(torchrun, "run", lambda args: pytest.fail("a process was started"))
    zoo.register_plugin(OwnLoop(), "own_loop")
    try:
        assert main(["train", "own-loop-mlp", "--out", str(tmp_path / "run"), "--nproc", "2"]) == 1
        err = capsys.readouterr().err
        assert "zoo: error: the recipe of 'own-loop-mlp' does not support distributed training" in err
        assert main(["train", "own-loop-mlp", "--out", str(tmp_path / "run"), "--checkpoint-every", "5"]) == 1
        assert "cannot write or resume training states" in capsys.readouterr().err
    finally:
        zoo.reset()
    assert not (tmp_path / "run").exists()


def test_resume_with_other_settings_is_refused(tmp_path):
    killed = zoo_train("example-mlp", tmp_path / "run", "--checkpoint-every", "40", ZOO_FAULT="step:0:50")
    assert killed.returncode == -signal.SIGKILL
    state = str(tmp_path / "run-state")
    done = zoo_train("example-mlp", tmp_path / "run", "--seed", "1", "--resume", state)
    assert done.returncode == 1 and "seed: state 0, this run 1" in done.stderr
    done = zoo_train("example-mlp", tmp_path / "run", "--resume", state, nproc=2)
    assert done.returncode == 1 and "resume it with --nproc 1" in done.stderr


def test_ranks_started_by_hand_with_other_settings_are_refused(tmp_path):
    """Two ranks started without torchrun (its environment variables by hand), rank 1 with another seed:
    both stop at the first step with the reason, instead of training different batches."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    processes = []
    for rank in (0, 1):
        argv = [sys.executable, "-m", "zoo", "train", "example-mlp", "--preset", "smoke",
                "--out", str(tmp_path / "run"), "--seed", str(rank)]  # fmt: skip
        variables = {"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2", "ZOO_DIST_TIMEOUT": "60",
                     "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}  # fmt: skip
        processes.append(subprocess.Popen(argv, env=env(**variables), stderr=subprocess.PIPE, text=True))
    errors = [p.communicate(timeout=300)[1] for p in processes]
    assert [p.returncode for p in processes] == [1, 1]
    assert "rank 0: ranks [1] run with other settings" in errors[0]
    assert "rank 1: ranks [0] run with other settings" in errors[1]
    assert not (tmp_path / "run").exists()


def test_a_distributed_run_records_the_command_the_user_typed(reference):
    record = json.loads((reference("example-mlp", 2) / "results.json").read_text())
    assert record["command"].endswith(
        "zoo train example-mlp --preset smoke --out " + str(reference("example-mlp", 2)) + " --nproc 2"
    )
