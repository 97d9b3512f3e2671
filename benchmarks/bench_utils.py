"""Helpers shared by the benchmark scripts: machine description, interleaved timing, matmul rate.

The scripts import this as a sibling module (`python benchmarks/bench_x.py` puts benchmarks/ on
sys.path first).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable

import torch


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (platform.processor() is often empty)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> tuple[float, float, float] | None:
    try:
        return tuple(round(x, 2) for x in os.getloadavg())  # type: ignore[return-value]
    except OSError:
        return None


def machine_info(device: str) -> dict:
    """What the numbers were measured on; stored next to every result."""
    import numpy

    info = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1_5_15min": load_average(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
    }
    try:
        import transformers

        info["transformers"] = transformers.__version__
    except ImportError:
        info["transformers"] = None
    return info


def command_line() -> str:
    """The command that is running, as one would type it again (from the repository root)."""
    script = os.path.relpath(sys.argv[0])
    return shlex.join(["python", script, *sys.argv[1:]])


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def interleaved_best_times(
    candidates: dict[str, Callable[[], object]], repeats: int, warmup: int = 1
) -> dict[str, float]:
    """Best wall time (s) of each candidate, running them in turn (A, B, A, B, ...).

    Interleaving matters on a shared machine: a background job slowing one stretch of the run
    slows both sides alike, and the minimum over repeats filters the worst of it.
    """
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    best = {name: float("inf") for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def matmul_tflops(
    device: str, n: int = 2048, repeats: int = 5, dtype: torch.dtype = torch.float32
) -> float:
    """Best (n, n) @ (n, n) rate in TFLOP/s in `dtype`: the machine's practical dense-math ceiling."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)

    def run() -> None:
        a @ b
        synchronize(device)

    seconds = interleaved_best_times({"matmul": run}, repeats)["matmul"]
    return 2 * n**3 / seconds / 1e12


def forward_gflop(
    tokens: int = 1214, hidden: int = 768, layers: int = 12, mlp_ratio: int = 4
) -> float:
    """Forward GFLOP of one clip through the encoder.

    Per layer: Q, K, V and output projections plus the MLP are 2 * (4 + 2 * mlp_ratio) * T * D^2
    FLOPs; attention scores and mixing are 4 * T^2 * D. Default config (1212 patches + 2 tokens,
    768 wide, 12 layers): about 260 GFLOP. Patch embedding (~0.5 GFLOP) is left out.
    """
    per_layer = 2 * (4 + 2 * mlp_ratio) * tokens * hidden**2 + 4 * tokens**2 * hidden
    return layers * per_layer / 1e9


# The model of the smoke runs (--quick): the default geometry (1024 x 128 input, 1214 tokens),
# 2 layers of width 192, so that a run takes seconds.
SMALL_MODEL = {"hidden_size": 192, "num_hidden_layers": 2, "num_attention_heads": 3,
               "intermediate_size": 768}  # fmt: skip


def config_gflop(overrides: dict) -> float:
    """forward_gflop() of the default config changed by `overrides` (ASTConfig field names)."""
    hidden = overrides.get("hidden_size", 768)
    return forward_gflop(
        hidden=hidden,
        layers=overrides.get("num_hidden_layers", 12),
        mlp_ratio=overrides.get("intermediate_size", 4 * hidden) // hidden,
    )


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def write_report(report: dict, device: str, json_path: str | None) -> None:
    """Stamp the end-of-run load average, print the report and write it to json_path if given.

    A smoke run (report["quick"]) keeps its numbers but gets no ratios and no verdicts: one
    repeat of a shrunken workload says whether the script runs, not how fast anything is.
    """
    if report.get("quick"):
        for row in report.get("summary_rows", []):
            row["ratio"] = None
            row["met"] = None
    report["machine"]["load_average_at_end"] = machine_info(device)["load_average_1_5_15min"]
    print(json.dumps(report, indent=2))
    if json_path:
        with open(json_path, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2)
