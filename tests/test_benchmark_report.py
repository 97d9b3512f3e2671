"""benchmarks/run_all.py's report: verdicts only where they mean something, like-with-like ratios,
no stale rows, and one source for the table and the targets list. No benchmark runs here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

run_all = pytest.importorskip("run_all")


def machine(date: str = "2026-11-29 21:00 UTC") -> dict:
    return {"date_utc": date, "load_average_1_5_15min": [1.0, 1.0, 1.0]}


def row(what: str, ratio: float | None, target: str = "", met: bool | None = None) -> dict:
    return {"what": what, "astaudio": "2.0", "reference": "1.0", "ratio": ratio,
            "target": target, "met": met}  # fmt: skip


def deploy_result(quick: bool = False) -> dict:
    rates = {"transformers fp32": 1.0, "astaudio torch fp32": 1.0, "astaudio ORT fp32": 1.5,
             "astaudio torch int8": 2.0, "astaudio ORT int8": 4.5}  # fmt: skip
    sides = {name: {"clips_per_s": rate, "max_abs_logit_error": 0.0, "max_abs_score_error": 0.0}
             for name, rate in rates.items()}  # fmt: skip
    return {"command": "python benchmarks/bench_deploy.py", "quick": quick, "machine": machine(),
            "fp32_matmul_tflops": 0.1, "summary_rows": [], "details": [],
            "results": {"batch": 4, "sides": sides, "onnx_mib": {}, "notes": []}}  # fmt: skip


def test_deploy_ratios_compare_like_with_like():
    rows = run_all.with_current_rows("deploy", deploy_result())["summary_rows"]
    pairs = {
        (r["what"].split(", ")[2].split(" (")[0], r["reference_name"]): r["ratio"] for r in rows
    }
    assert pairs == {
        ("astaudio torch fp32 vs transformers fp32", "transformers fp32"): 1.0,
        ("astaudio ORT fp32 vs astaudio torch fp32", "astaudio torch fp32"): 1.5,
        ("astaudio torch int8 vs astaudio torch fp32", "astaudio torch fp32"): 2.0,
        ("astaudio ORT int8 vs astaudio ORT fp32", "astaudio ORT fp32"): 3.0,
    }


def test_quick_runs_show_no_ratios_and_no_verdicts():
    quick = {"quick": True, "machine": machine(),
             "summary_rows": [row("features", 2.07, ">= 5x", False)]}  # fmt: skip
    table = run_all.summary_table({"core": quick})
    assert "2.07x" not in table and "**no**" not in table and "yes" not in table
    assert "smoke run" in table
    assert "MISSED" not in run_all.plain_table({"core": quick})
    deploy = run_all.with_current_rows("deploy", deploy_result(quick=True))
    assert all(r["ratio"] is None for r in deploy["summary_rows"])


def test_targets_list_agrees_with_the_table():
    results = {
        "core": {"machine": machine(), "summary_rows": [
            row("features", 12.0, ">= 5x", True), row("matmul share", None)]},
        "e2e": {"machine": machine(), "summary_rows": [row("end to end", 1.1, ">= 1.2x", False)]},
        "gpu": {"machine": machine(), "summary_rows": [
            {**row("gpu e2e", 1.0, ">= 10x", None), "no_verdict": "GPU target; CPU run"}]},
    }  # fmt: skip
    table = run_all.summary_table(results)
    targets = run_all.targets_list(results)
    assert "| core | features |" in table and "| yes |" in table
    assert "| e2e | end to end |" in table and "| **no** |" in table
    assert "GPU target; CPU run" in table
    met, missed, not_judged = targets.split("\n- ")
    assert "features" in met and "end to end" in missed and "gpu e2e" in not_judged
    assert "matmul share" not in targets  # no target, no verdict


def test_long_file_rows_of_an_older_e2e_run_give_way_to_memory():
    e2e = {
        "machine": machine(),
        "long_file": {},
        "summary_rows": [
            row("End to end", 1.1),
            row("Peak RSS, small model (99 s)", None, "< 2 GiB", True),
        ],
    }
    memory = {"machine": machine(), "summary_rows": [
        row("Peak RSS, small model (45 s)", None, "< 2 GiB", True)]}  # fmt: skip
    kept = run_all.drop_superseded({"e2e": e2e, "memory": memory})
    assert [r["what"] for r in kept["e2e"]["summary_rows"]] == ["End to end"]
    assert "long_file" not in kept["e2e"]
    assert kept["memory"] == memory


def test_every_measuring_script_is_run():
    scripts = {path.name for path in (Path(run_all.__file__).parent).glob("bench_*.py")}
    listed = {script for script, *_ in run_all.BENCHMARKS.values()}
    assert scripts - listed == {"bench_utils.py"}
