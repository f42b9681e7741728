"""Run every benchmark and write benchmarks/RESULTS.md, which docs/performance.md includes (`.venv/bin/python benchmarks/run_all.py`).

`--only NAME[,NAME]` runs some of them and keeps the other sections of RESULTS.md as they were. Each benchmark
module has a `main() -> str` that returns its Markdown section, starting with a `## ` heading.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import re
import sys
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
BENCHMARKS = ["bench_e2e", "bench_scoring", "bench_grid_memory", "bench_metrics", "bench_startup", "bench_stats"]
BENCHMARKS += ["bench_ray", "bench_cache", "bench_engines", "bench_models", "bench_backends"]


def machine() -> str:
    import numpy as np

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, Python {platform.python_version()}, numpy {np.__version__}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default=",".join(BENCHMARKS))
    names = parser.parse_args().only.split(",")
    results = HERE / "RESULTS.md"
    sections: dict[str, str] = {}
    if results.exists():
        parts = re.split(r"(?m)^<!-- bench:(\w+) -->\n", results.read_text())
        sections = dict(zip(parts[1::2], parts[2::2]))
    for name in names:
        print(f"running {name} ...", file=sys.stderr)
        sections[name] = importlib.import_module(name).main().rstrip() + "\n\n"
    header = (
        "# Benchmark results\n\n"
        f"Written by `benchmarks/run_all.py` on {date.today().isoformat()}. Machine: {machine()}.\n"
        "Every ratio compares runs made in the same process on the same machine.\n\n"
    )
    body = "".join(f"<!-- bench:{n} -->\n{sections[n]}" for n in BENCHMARKS if n in sections)
    results.write_text(header + body)
    print(results.read_text())


if __name__ == "__main__":
    main()
