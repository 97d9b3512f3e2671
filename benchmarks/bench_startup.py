"""Start-up benchmark: how long `astaudio --version` and the help screens take to answer.

    python benchmarks/bench_startup.py [--repeats 10] [--quick] [--json out.json]

Each command runs as a fresh subprocess, the way a user types it: the `astaudio` console script
installed next to this Python (`python -m astaudio` where there is none). The commands take
turns (A, B, C, D, A, B, ...) after one warm-up round, so load from other processes hits them
alike; the median wall time of each counts, and beside it the median CPU time (user + system of
the child), which moves far less with the load. For reference, not compared: the bare interpreter
(`python -c pass`) and `python -c "import torch"`, timed in the same rounds.

Whether torch is imported: each command runs once more as
`python -X importtime -c "from astaudio.cli import main; ..."` (what the console script does),
and the import log is searched for the `torch` package.

Target (issue 10, checked here, never in the tests): every command answers in < 0.5 s without
importing torch.
"""

from __future__ import annotations

import argparse
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_utils import command_line, machine_info, write_report

TARGET_SECONDS = 0.5
COMMANDS = [["--version"], ["--help"], ["classify", "--help"], ["finetune", "--help"]]
REFERENCES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    'python -c "import torch"': [sys.executable, "-c", "import torch"],
}


def astaudio_program() -> list[str]:
    """The console script beside this interpreter (a venv's bin/), else `python -m astaudio`."""
    script = Path(sys.executable).parent / "astaudio"
    if script.exists():
        return [str(script)]
    found = shutil.which("astaudio")
    return [found] if found else [sys.executable, "-m", "astaudio"]


def run_once(command: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run; the command must succeed (and an astaudio
    one print something). CPU time hardly moves with the machine's load; wall time does."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    silent = command[0] == sys.executable and command[1] == "-c"  # the references
    if completed.returncode != 0 or not (silent or completed.stdout.strip()):
        raise RuntimeError(
            f"{shlex.join(command)} failed (exit {completed.returncode}): {completed.stderr[-500:]}"
        )
    return seconds, cpu


def time_commands(commands: dict[str, list[str]], repeats: int) -> tuple[dict, dict]:
    """All wall and CPU times of each command, taking turns, after one warm-up round."""
    for command in commands.values():
        run_once(command)
    wall: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, command in commands.items():
            seconds, cpu_seconds = run_once(command)
            wall[name].append(seconds)
            cpu[name].append(cpu_seconds)
    return wall, cpu


def import_profile(arguments: list[str]) -> dict:
    """`-X importtime` of the console script's code path: torch imported? costliest imports."""
    code = (
        "import sys; from astaudio.cli import main; "
        f"sys.argv = ['astaudio', *{arguments!r}]; sys.exit(main())"
    )
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True
    )
    modules = {}  # module -> cumulative microseconds
    for line in completed.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = [part.strip() for part in line[len("import time:") :].split("|")]
        if len(parts) == 3 and parts[1].isdigit():
            modules[parts[2].strip()] = int(parts[1])
    top_level = {name: us for name, us in modules.items() if "." not in name}
    costliest = sorted(top_level.items(), key=lambda item: -item[1])[:5]
    return {
        "exit_status": completed.returncode,
        "imports_torch": "torch" in modules,
        "modules_imported": len(modules),
        "costliest_packages_ms": {name: round(us / 1000, 1) for name, us in costliest},
    }


def summary_rows(report: dict) -> list[dict]:
    rows = []
    for name, result in report["commands"].items():
        torch_note = "imports torch" if result["imports_torch"] else "no torch"
        cpu = (
            f"; CPU time {result['median_cpu_seconds']:.2f} s"
            if "median_cpu_seconds" in result
            else ""
        )
        ok = result["median_seconds"] < TARGET_SECONDS and not result["imports_torch"]
        rows.append(
            {
                "what": f"`{name}` start-up, median wall time of {len(result['seconds'])} runs "
                f"({torch_note}{cpu})",
                "astaudio": f"{result['median_seconds']:.2f} s",
                "reference": "",
                "ratio": None,
                "target": f"< {TARGET_SECONDS:g} s, no torch",
                "met": ok,
            }
        )
    return rows


def _cpu(seconds: list[float] | None) -> str:
    return "" if not seconds else f", median CPU time {statistics.median(seconds):.3f} s"


def details(report: dict) -> list[str]:
    lines = [
        f"Program: {report['program']} (what a pip install puts on PATH), each command a fresh "
        "subprocess; the commands take turns after one warm-up round; median "
        "(and fastest) wall time."
    ]
    for name, result in report["commands"].items():
        costly = ", ".join(
            f"{module} {ms:.0f} ms" for module, ms in result["costliest_packages_ms"].items()
        )
        lines.append(
            f"`{name}`: median {result['median_seconds']:.3f} s, fastest "
            f"{min(result['seconds']):.3f} s{_cpu(result.get('cpu_seconds'))}; imports torch: "
            f"{'yes' if result['imports_torch'] else 'no'}; {result['modules_imported']} modules "
            f"imported; costliest packages (`-X importtime`, cumulative: a package's time "
            f"includes what it imports): {costly}."
        )
    for name, seconds in report["references"].items():
        cpu = _cpu(report.get("references_cpu", {}).get(name))
        lines.append(
            f"Reference, same rounds: `{name}` median {statistics.median(seconds):.3f} s, "
            f"fastest {min(seconds):.3f} s{cpu}."
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="ignored: start-up runs on the CPU")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per command")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 runs per command")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    repeats = 2 if args.quick else args.repeats
    program = astaudio_program()
    report = {"command": command_line(), "quick": args.quick, "machine": machine_info("cpu")}
    report["program"] = (
        "python -m astaudio" if program[0] == sys.executable else "the astaudio console script"
    )
    named = {shlex.join(["astaudio", *arguments]): arguments for arguments in COMMANDS}
    commands = {name: program + arguments for name, arguments in named.items()}
    times, cpu = time_commands({**commands, **REFERENCES}, repeats)
    report["commands"] = {
        name: {
            "seconds": times[name],
            "median_seconds": statistics.median(times[name]),
            "cpu_seconds": cpu[name],
            "median_cpu_seconds": statistics.median(cpu[name]),
            **import_profile(arguments),
        }
        for name, arguments in named.items()
    }
    report["references"] = {name: times[name] for name in REFERENCES}
    report["references_cpu"] = {name: cpu[name] for name in REFERENCES}
    report["summary_rows"] = summary_rows(report)
    report["details"] = details(report)
    write_report(report, "cpu", args.json)


if __name__ == "__main__":
    main()
