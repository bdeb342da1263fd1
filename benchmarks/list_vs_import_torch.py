"""Wall time of `zoo list` against `python -c "import torch"`, side by side in one run.

    python benchmarks/list_vs_import_torch.py [--repeat 7]

Each command runs in a fresh interpreter; the median of --repeat runs is reported, and the ratio
`zoo list` / `import torch` (target: <= 0.25). Prints one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import time


def wall(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat + 1):  # the first run warms the file cache and is dropped
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    zoo_cmd = [shutil.which("zoo") or "zoo", "list"]
    results = {
        "zoo list": wall(zoo_cmd, args.repeat),
        "python -c 'import torch'": wall([sys.executable, "-c", "import torch"], args.repeat),
        "python -c 'pass'": wall([sys.executable, "-c", "pass"], args.repeat),
    }
    ratio = results["zoo list"] / results["python -c 'import torch'"]
    for name, seconds in results.items():
        print(f"{name:28s} {seconds * 1000:8.1f} ms")
    print(f"ratio zoo list / import torch: {ratio:.3f} (target <= 0.25)")
    print(
        json.dumps(
            {
                "seconds": results,
                "ratio": round(ratio, 4),
                "machine": platform.platform(),
                "cpus": __import__("os").cpu_count(),
                "python": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()
