"""CLI start-up: `mrl-eval --help` and `recommend --from` on a saved run, wall time of the whole process.

.venv/bin/python benchmarks/run_all.py --only bench_startup
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "datasets" / "scifact"


def best_wall(cmd: list[str], env: dict, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> str:
    cli = [sys.executable, "-m", "mrl_eval"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, XDG_CACHE_HOME=tmp, PYTHONPATH=str(ROOT))
        rows.append(("`python -c pass` (the interpreter alone)", best_wall([sys.executable, "-c", "pass"], env)))
        rows.append(("`mrl-eval --help`", best_wall([*cli, "--help"], env)))
        rows.append(("`mrl-eval sweep --help`", best_wall([*cli, "sweep", "--help"], env)))
        if SCIFACT.is_dir():
            out = Path(tmp) / "saved"
            subprocess.run(
                [
                    *cli,
                    "sweep",
                    str(SCIFACT),
                    "--embeddings",
                    str(SCIFACT / "embeddings" / "embeddinggemma-300m"),
                    "--dims",
                    "64,128,256,512",
                    "--out",
                    str(out),
                    "--json",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
            )
            report = str(next(out.glob("*.json")))
            rec = [*cli, "recommend", "--from", report, "--min-ndcg", "0.75", "--out", str(Path(tmp) / "r")]
            rows.append(
                ("`recommend --from` (SciFact, 5 dims, 10,000 resamples, reports, no plots)", best_wall(rec, env))
            )
            rows.append(
                ("`recommend --from ... --plot` (also draws the PNG/SVG charts)", best_wall([*rec, "--plot"], env, 3))
            )
    return "\n".join(
        [
            "## CLI start-up",
            "",
            "Whole-process wall time, best of several runs. `--help` and `recommend --from` import neither torch, "
            "sentence-transformers, pandas, scipy nor matplotlib (tests/test_cli.py checks this).",
            "",
            "| command | wall time |",
            "|---|---:|",
            *(f"| {name} | {t:.2f} s |" for name, t in rows),
            "",
        ]
    )


if __name__ == "__main__":
    print(main())
