"""Run every benchmark, print one table of astaudio vs its references, write BENCHMARKS.md.

    python benchmarks/run_all.py                # everything, writes BENCHMARKS.md (long)
    python benchmarks/run_all.py --quick        # smoke run, prints; its duration: BENCHMARKS.md
    python benchmarks/run_all.py --only core startup   # re-run some, then write BENCHMARKS.md
    python benchmarks/run_all.py --reuse        # BENCHMARKS.md from benchmarks/results/ alone
    python benchmarks/run_all.py --device cuda  # the same scripts on a GPU

Each benchmark is a script run as a subprocess with `--json`; every ratio compares astaudio with
a reference measured in the same process, on the same machine, at the same time, and like with
like (the row names its reference). The raw results (machine, load, command, all numbers) stay
in benchmarks/results/<name>.json. BENCHMARKS.md is always made from the latest result of every
benchmark: the ones just run plus, for the others, the stored file, each row with the date it
was measured. The findings (benchmarks/findings.md, hand-written analysis) are copied in; the
verdicts are not hand-written: the "Targets" list is made from the same rows as the table.

`--quick` runs every script on a shrunken workload with one repeat: it shows that they run, so it
prints numbers but no ratios and no target verdicts, and writes to a temporary folder.

Every script in benchmarks/ that measures something is in BENCHMARKS below. Any script whose
JSON holds "command", "machine" and "summary_rows" (what, astaudio, reference, reference_name,
ratio, target, met, no_verdict) and optionally "details" (markdown lines) is rendered as is.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_utils import default_device, load_average, machine_info

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"  # full runs: kept, BENCHMARKS.md is made from them
QUICK_RESULTS = Path(tempfile.gettempdir()) / "astaudio-benchmarks-quick"  # smoke runs
FINDINGS = HERE / "findings.md"
QUICK_DURATION = RESULTS / "quick_duration.json"  # how long the last complete --quick run took


def deploy_available() -> bool:
    """The deployment benchmarks need astaudio.export (ONNX export, ONNX Runtime, int8)."""
    return importlib.util.find_spec("astaudio.export") is not None


def precision_args() -> list[str]:
    """The keyword recipe's full test split where it has been generated, else the committed
    held-out slice (the script's default)."""
    data = REPO / "recipes/synthetic-commands/data"
    if not (data / "manifest.csv").exists():
        return []
    return ["--data", str(data.relative_to(REPO) / "manifest.csv"), "--labels",
            str(data.relative_to(REPO) / "class_labels_indices.csv"), "--split", "test"]  # fmt: skip


BENCHMARKS = {  # name: (script, what it answers, runs when, extra arguments)
    "core": ("bench_core.py", "Core: features and model forward", lambda: True, []),
    "startup": ("bench_startup.py", "Start-up: --version and --help", lambda: True, []),
    "e2e": ("bench_e2e.py", "End to end: audio files in, tags out", lambda: True, ["--skip-long"]),
    "memory": ("bench_e2e.py", "Long recording: peak memory", lambda: True, ["--only-long"]),
    "deploy": ("bench_deploy.py", "Deployment: ONNX Runtime, int8", deploy_available, []),
    "precision": (
        "bench_precision_keywords.py",
        "Reduced precision on the trained keyword model",
        deploy_available,
        precision_args,
    ),
    "gpu": ("bench_gpu.py", "GPU path: bf16 model, end to end from waveforms", lambda: True, []),
}
# Not in BENCHMARKS: bench_utils.py (helpers, measures nothing).


def run_benchmark(name: str, device: str, quick: bool, extra: list[str]) -> tuple[dict, float]:
    """The benchmark's result (or {"error": ...}) and its wall seconds."""
    script, _, _, defaults = BENCHMARKS[name]
    extra = (defaults() if callable(defaults) else defaults) + extra
    output = (QUICK_RESULTS if quick else RESULTS) / f"{name}.json"
    output.parent.mkdir(exist_ok=True)
    shown = output.relative_to(REPO) if output.is_relative_to(REPO) else output
    command = [sys.executable, f"benchmarks/{script}", "--device", device, "--json", str(shown)]
    command += ["--quick"] if quick else []
    command += extra
    print(f"== {name}: {' '.join(command[1:])}", flush=True)
    start = time.perf_counter()
    previous = output.read_bytes() if output.exists() else None
    output.unlink(missing_ok=True)  # a failed run must not leave the last run's file as its own
    completed = subprocess.run(command, cwd=REPO, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    print(f"== {name}: {seconds:.0f} s, exit {completed.returncode}", flush=True)
    if completed.returncode != 0 or not output.exists():
        if previous is not None and not output.exists():
            output.write_bytes(previous)  # keep the last good result on disk
        return {"error": f"exit status {completed.returncode}", "summary_rows": []}, seconds
    return json.loads(output.read_text()), seconds


def record_quick_duration(seconds: dict[str, float], load_at_start, device: str) -> None:
    """What a complete `--quick` run took, for BENCHMARKS.md (a full run's file, so it is kept)."""
    machine = machine_info(device)
    record = {
        "command": "python benchmarks/run_all.py --quick",
        "minutes": sum(seconds.values()) / 60,
        "seconds_per_benchmark": {name: round(s, 1) for name, s in seconds.items()},
        "load_average_at_start": load_at_start,
        "load_average_at_end": machine["load_average_1_5_15min"],
        "machine": machine,
    }
    RESULTS.mkdir(exist_ok=True)
    QUICK_DURATION.write_text(json.dumps(record, indent=2), encoding="utf-8")


def quick_duration_text() -> str:
    if not QUICK_DURATION.exists():
        return "duration not measured yet"
    record = json.loads(QUICK_DURATION.read_text())
    load = ", ".join(map(str, record["load_average_at_start"] or []))
    return (
        f"{record['minutes']:.1f} min, measured {record['machine']['date_utc']} on this "
        f"{record['machine']['cores']}-core machine at load average {load} (1, 5, 15 min); "
        "idle, it is shorter"
    )


def with_current_rows(name: str, result: dict) -> dict:
    """The result with its summary rows (and details) made again by the script's current
    summary_rows()/details() from the stored measurements, so that every file is judged by
    today's rules (like-with-like ratios, which targets apply where); the stored rows where the
    script can't read an older file."""
    if "error" in result or name not in BENCHMARKS:
        return result
    module = importlib.import_module(Path(BENCHMARKS[name][0]).stem)
    try:
        updated = {**result, "summary_rows": module.summary_rows(result)}
        if hasattr(module, "details") and "details" in result:
            updated["details"] = module.details(result)
    except (KeyError, TypeError, ValueError):
        return result
    if result.get("quick"):
        for row in updated["summary_rows"]:
            row["ratio"] = row["met"] = None
    return updated


def load_results(names: list[str], quick: bool) -> dict[str, dict]:
    """The stored result of each benchmark that has one."""
    results = {}
    for name in names:
        path = (QUICK_RESULTS if quick else RESULTS) / f"{name}.json"
        if path.exists():
            results[name] = with_current_rows(name, json.loads(path.read_text()))
    return results


# -- rendering -----------------------------------------------------------------------------
def _date(result: dict) -> str:
    return result.get("machine", {}).get("date_utc", "?").removesuffix(" UTC")


def _ratio(row: dict, result: dict) -> str:
    if result.get("quick") or row.get("ratio") is None:
        return ""
    return f"{row['ratio']:.2f}x"


def _reference(row: dict) -> str:
    if not row.get("reference"):
        return ""
    return f"{row['reference']} ({row.get('reference_name', 'transformers')})"


def _verdict(row: dict, result: dict, markdown: bool = True) -> str:
    """yes / no for a row with a target; why not, where a target can't be judged."""
    if not row.get("target"):
        return ""
    if result.get("quick"):
        return "smoke run: no verdict"
    if row.get("met") is None:
        return row.get("no_verdict") or "not judged"
    if row["met"]:
        return "yes" if markdown else "target met"
    return "**no**" if markdown else "TARGET MISSED"


def summary_table(results: dict[str, dict]) -> str:
    lines = [
        "| Run | Measurement | astaudio | reference | ratio | target | met | measured (UTC) |",
        "|---|---|---:|---:|---:|---|---|---|",
    ]
    for name, result in results.items():
        if "error" in result:
            lines.append(f"| {name} | failed ({result['error']}) | | | | | | |")
        for row in result.get("summary_rows", []):
            lines.append(
                f"| {name} | {row['what']} | {row['astaudio']} | {_reference(row)} | "
                f"{_ratio(row, result)} | {row['target']} | {_verdict(row, result)} | "
                f"{_date(result)} |"
            )
    return "\n".join(lines)


def targets_list(results: dict[str, dict]) -> str:
    """One line per row with a target, from the same rows as the table: met, missed, not judged."""
    groups: dict[str, list[str]] = {"Met": [], "Missed": [], "Not judged": []}
    for name, result in results.items():
        for row in result.get("summary_rows", []):
            if not row.get("target"):
                continue
            verdict = _verdict(row, result)
            group = {"yes": "Met", "**no**": "Missed"}.get(verdict, "Not judged")
            why = "" if group != "Not judged" else f"; {verdict}"
            ratio = _ratio(row, result)
            value = row["astaudio"]
            if ratio:
                reference = row.get("reference_name", "transformers")
                value = f"{ratio} ({value} vs {row['reference']} {reference})"
            groups[group].append(
                f"  - {name}: {row['what']}: {value}, target {row['target']}{why} ({_date(result)})"
            )
    lines = []
    for group, entries in groups.items():
        lines.append(f"- {group}: {len(entries)}" + ("" if entries else "."))
        lines += entries
    return "\n".join(lines)


def plain_table(results: dict[str, dict]) -> str:
    """The summary for a terminal."""
    out = []
    for name, result in results.items():
        if "error" in result:
            out.append(f"{name}: FAILED ({result['error']})")
        if result.get("quick"):
            out.append(f"{name}: smoke run, one repeat of a small workload: no ratios, no verdicts")
        for row in result.get("summary_rows", []):
            out.append(
                f"{name:9} {row['what'][:100]:100} {row['astaudio']:>10} "
                f"{_reference(row):>30} {_ratio(row, result):>7} {row['target']:>9} "
                f"{_verdict(row, result, markdown=False)}"
            )
    return "\n".join(out)


def machine_section(results: dict[str, dict], note: str | None) -> str:
    """The machine once, then when and under what load each benchmark ran."""
    machines = [r["machine"] for r in results.values() if "machine" in r]
    if not machines:
        return "No results."
    machine = machines[-1]
    lines = [
        f"- CPU: {machine['cpu']}, {machine['cores']} cores visible, "
        f"torch threads {machine['torch_threads']}; device: {machine['device']}",
        f"- Python {machine['python']}, torch {machine['torch']}, numpy {machine['numpy']}, "
        f"transformers {machine['transformers']}",
    ]
    if note:
        lines.append(f"- {note}")
    lines += [
        "",
        "| Run | started (UTC) | load average at start (1, 5, 15 min) | at end | command |",
        "|---|---|---|---|---|",
    ]
    for name, result in results.items():
        if "machine" not in result:
            continue
        load = result["machine"].get("load_average_1_5_15min")
        end = result["machine"].get("load_average_at_end")
        lines.append(
            f"| {name} | {_date(result)} | {', '.join(map(str, load or []))} | "
            f"{', '.join(map(str, end or []))} | `{result.get('command', '?')}` |"
        )
    return "\n".join(lines)


def core_section(core: dict) -> str:
    features, model = core["features"], core["model"]
    rate = max(core["fp32_matmul_tflops"], core.get("fp32_matmul_tflops_after", 0.0))
    lines = [
        f"### {BENCHMARKS['core'][1]} (`{core['command']}`)",
        "",
        f"- fp32 matmul rate, (2048 x 2048) @ (2048 x 2048), best of 5: "
        f"{core['fp32_matmul_tflops']:.3f} TFLOP/s before the model runs, "
        f"{core['fp32_matmul_tflops_after']:.3f} TFLOP/s after.",
        f"- Feature extraction: {features['clips']} clips of {features['clip_seconds']:g} s at "
        "16 kHz, given to both extractors as a list of numpy arrays with "
        '`return_tensors="pt"`; best of the timed repeats. transformers computes the filter '
        f"banks with its {features['transformers_backend']}, which is also what a transformers "
        "user without torchaudio gets (with torchaudio it calls "
        "`torchaudio.compliance.kaldi.fbank` clip by clip). Largest difference between the two "
        f"outputs: {features['max_abs_difference']:.1e}.",
        f"  - default threads: astaudio {features['astaudio_clips_per_s']:.1f} clips/s, "
        f"transformers {features['transformers_clips_per_s']:.1f} clips/s, "
        f"{features['ratio']:.2f}x.",
    ]
    one = core.get("features_1_thread")
    if one:
        lines.append(
            f"  - torch and numpy's BLAS at 1 thread each: astaudio "
            f"{one['astaudio_clips_per_s']:.1f} clips/s, transformers "
            f"{one['transformers_clips_per_s']:.1f} clips/s, {one['ratio']:.2f}x. On a machine "
            "with more runnable threads than cores, torch's multi-threaded ops wait for "
            "descheduled worker threads; one thread each compares the implementations core "
            "for core."
        )
    lines += [
        f"- Model forward: default config (86M parameters, 1214 tokens, "
        f"{model['gflop_per_clip']:.0f} GFLOP per clip), batch {model['batch']}, fp32, "
        "`torch.inference_mode()`, the same weights on both sides, transformers with "
        f'`attn_implementation="{model["transformers_attention"]}"`: astaudio '
        f"{model['astaudio_clips_per_s']:.3f} clips/s ({model['astaudio_tflops']:.3f} TFLOP/s, "
        f"{model['astaudio_tflops'] / rate:.0%} of the better matmul rate), transformers "
        f"{model['transformers_clips_per_s']:.3f} clips/s "
        f"({model['transformers_tflops']:.3f} TFLOP/s, "
        f"{model['transformers_tflops'] / rate:.0%}): {model['ratio']:.2f}x. Largest "
        f"difference between the two models' outputs: {model['max_abs_difference']:.1e}.",
        "- Each pair of sides runs interleaved (A, B, A, B, ...) after a warm-up; the best time "
        "of each side counts.",
        "",
    ]
    return "\n".join(lines)


def e2e_section(name: str, e2e: dict) -> str:
    """bench_e2e.py's results: the files comparison and/or the long-recording memory runs."""
    lines = [f"### {BENCHMARKS[name][1]} (`{e2e['command']}`)", ""]
    if "files" in e2e:
        lines += _files_lines(e2e)
    if "long_file" in e2e:
        lines += _long_file_lines(e2e["long_file"])
    return "\n".join(lines) + "\n"


def _files_lines(e2e: dict) -> list[str]:
    files, cli, rates = e2e["files"], e2e["cli"], e2e["files"]["files_per_s"]
    lines = [
        f"- Model: {e2e['model']}, random weights, 527 AudioSet labels (class_labels_indices.csv)"
        ", built in transformers as `ASTForAudioClassification(config).save_pretrained(folder)`"
        " plus `ASTFeatureExtractor().save_pretrained(folder)`; both libraries load that "
        "folder. Hub checkpoints can't be downloaded here, and speed doesn't depend on the "
        "weights.",
        f"- Files ({files['files']}, {files['audio_seconds']:g} s of audio in all): "
        f"{', '.join(e2e['file_list'])}. Real recordings: ALSA speaker-test speech (48 kHz "
        "WAV), freedesktop sound-theme Ogg Vorbis (8 to 96 kHz, mono and stereo), sox "
        "conversions of them (22.05 kHz FLAC, 8 kHz WAV, 44.1 kHz stereo MP3, 16 kHz WAV), "
        "espeak-ng speech, and 10 s clips concatenated from all of these. Every file fits in "
        "one model window (10.24 s), so both libraries run the model once per file.",
        "- Timed: decoding, resampling, features, model and top-5 labels (sigmoid scores). The "
        "files go through in chunks of 8 that rotate through the sides, so background load "
        "hits each side alike. Model loading is not timed (astaudio "
        f"{files['load_seconds']['astaudio']:.2f} s, transformers "
        f"{files['load_seconds']['transformers']:.2f} s).",
    ]
    how = {
        "astaudio": "`AudioClassifier.from_pretrained(folder).classify(paths)`, batch 8 (the "
        "command line's default), decoding in a background thread",
        "transformers (paths)": '`pipeline("audio-classification", model=folder)(paths)`: '
        "an ffmpeg subprocess decodes each file; batch 1, the pipeline's default",
        "transformers (arrays)": "soundfile decoding, channel mean and soxr resampling to "
        "16 kHz inside the timed loop, then the pipeline on the arrays with `batch_size=8`",
    }
    for name, rate in rates.items():
        lines.append(
            f"  - {name}: {rate:.3f} files/s ({files['seconds'][name]:.1f} s): {how[name]}."
        )
    lines += [
        f"- astaudio vs the faster transformers side: {files['ratio']:.2f}x (vs paths "
        f"{files['ratio_vs_paths']:.2f}x, vs arrays {files['ratio_vs_arrays']:.2f}x). Top-1 "
        f"label agreement with the arrays side: {files['top1_agreement_with_arrays_side']}.",
        "- The command line on the same folder as a subprocess, interpreter start-up, imports "
        f"and model loading included: {cli['wall_seconds']:.1f} s for {cli['files']} files, "
        f"{cli['files_per_s_including_startup']:.3f} files/s, peak RSS "
        f"{cli['peak_rss_gib']:.2f} GiB.",
        "",
    ]
    return lines


def _long_file_lines(long_file: dict) -> list[str]:
    lines = [
        "Long recording: peak RSS of `astaudio classify` on one long 44.1 kHz stereo FLAC made "
        "with sox from the same recordings, repeated. astaudio decodes, resamples and windows it "
        "as a stream (10.24 s windows, 5.12 s hop). The small model has the default geometry "
        "(1024 x 128 input, the same windows) but 2 layers of width 192, so that the run takes "
        "seconds: memory is decoding and windows, not weights. Peak RSS is the child's "
        "getrusage maximum (via /usr/bin/time); a run stopped at its time limit reports the "
        "largest VmRSS sampled every second. Command (paths are temporary): "
        f"`{long_file['small_model']['command']}`.",
        "",
        "| Run | Audio | Peak RSS | Time |",
        "|---|---|---|---|",
    ]
    names = {
        "baseline_small_model_one_short_clip": "small model, one 1.4 s clip (baseline)",
        "small_model": "small model",
        "small_model_fixed_mmap_threshold": "small model, `MALLOC_MMAP_THRESHOLD_=131072`",
        "default_model": "86M default model",
    }
    for key, result in long_file.items():
        if result["timed_out"]:
            done = f"stopped after {result['wall_seconds']:.0f} s, unfinished"
        else:
            done = f"{result['wall_seconds']:.1f} s"
            if "windows" in result:
                plural = "s" if result["windows"] != 1 else ""
                done += f", {result['windows']} window{plural} ({result['windows_per_s']:.2f}/s)"
        lines.append(
            f"| {names.get(key, key)} | {result['audio_minutes']:g} min | "
            f"{result['peak_rss_gib']:.2f} GiB | {done} |"
        )
    return lines + [""]


def generic_section(name: str, result: dict) -> str:
    """Any other benchmark: its "details" bullets, if it has them."""
    title = BENCHMARKS[name][1] if name in BENCHMARKS else name
    lines = [f"### {title} (`{result.get('command', '?')}`)", ""]
    for line in [*result.get("details", []), f"Raw results: benchmarks/results/{name}.json."]:
        table = line.startswith("|")
        if lines[-1].startswith("|") and not table:
            lines.append("")  # a table ends before the next bullet
        lines.append(line if not line or table else f"- {line}")
    return "\n".join(lines) + "\n"


def drop_superseded(results: dict[str, dict]) -> dict[str, dict]:
    """Long-file rows of an e2e run made without --skip-long belong to "memory": where a memory
    result exists, those older copies go, so that no stale row stands beside the current one."""
    e2e = results.get("e2e")
    if e2e is None or "memory" not in results or "long_file" not in e2e:
        return results
    e2e = {key: value for key, value in e2e.items() if key != "long_file"}
    e2e["summary_rows"] = [
        row for row in e2e["summary_rows"] if not row["what"].startswith("Peak RSS")
    ]
    return {**results, "e2e": e2e}


def write_markdown(
    path: Path, results: dict[str, dict], note: str | None, findings: str | None = None
) -> None:
    sections = []
    for name, result in results.items():
        if "error" in result:
            sections.append(f"### {name}\n\nFailed: {result['error']}.\n")
        elif name == "core":
            sections.append(core_section(result))
        elif BENCHMARKS.get(name, ("",))[0] == "bench_e2e.py":
            sections.append(e2e_section(name, result))
        else:
            sections.append(generic_section(name, result))
    missing = [name for name in BENCHMARKS if name not in results]
    if missing:
        sections.append(
            "### Not measured\n\n"
            + "\n".join(f"- {name} ({BENCHMARKS[name][0]}): no result yet." for name in missing)
            + "\n"
        )
    gpu = results.get("gpu", {}).get("device_name") == "GPU"
    gpu_text = (
        "The gpu rows were measured on a GPU."
        if gpu
        else "Not measured: no GPU was lent. bench_gpu.py ran on the CPU, unchanged (float32, "
        "batch 4), and its rows say so; its targets are about a GPU, so they get no verdict "
        "there. On a GPU: `python benchmarks/run_all.py --device cuda` (the default when CUDA "
        "is available)."
    )
    findings_text = f"## Findings\n\n{findings.strip()}\n\n" if findings else ""
    text = f"""# Benchmarks

astaudio against Hugging Face transformers (and each deployment option against its own fp32
baseline), measured in the same run on the same machine, so the ratios hold even where the
absolute numbers move with the machine's load. Speed targets are checked here, never in the test
suite. Made by `python benchmarks/run_all.py` from the latest result of every benchmark
(benchmarks/results/*.json); each row says when it was measured, and "Machine" says under what
load. `--quick` is a smoke run with no ratios and no verdicts: {quick_duration_text()}.

## Summary

{summary_table(results)}

### Targets

{targets_list(results)}

{findings_text}## Machine

{machine_section(results, note)}

## Details

{chr(10).join(sections)}
## GPU

{gpu_text}
"""
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=default_device(), choices=["cpu", "cuda"])
    parser.add_argument("--quick", action="store_true", help="smoke run of every benchmark")
    parser.add_argument(
        "--only", nargs="+", choices=list(BENCHMARKS), default=None, help="run just these"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="don't run: render benchmarks/results/*.json"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="markdown file (default: BENCHMARKS.md, none with --quick)",
    )
    parser.add_argument("--note", default=None, help="a line about the conditions, for the file")
    parser.add_argument(
        "--e2e-args",
        default="",
        help="extra arguments for bench_e2e.py, written with '=': --e2e-args='--files 16'",
    )
    parser.add_argument(
        "--findings",
        type=Path,
        default=FINDINGS,
        help="markdown copied in under '## Findings' (default: benchmarks/findings.md)",
    )
    args = parser.parse_args()
    everything = [name for name, (_, _, runs, _) in BENCHMARKS.items() if runs()]
    names = [] if args.reuse else (args.only or everything)
    load_at_start = load_average()
    ran, seconds = {}, {}
    for name in names:
        extra = args.e2e_args.split() if BENCHMARKS[name][0] == "bench_e2e.py" else []
        ran[name], seconds[name] = run_benchmark(name, args.device, args.quick, extra)
    if names:
        print(f"== all: {sum(seconds.values()) / 60:.1f} min")
    if args.quick and names == everything and all("error" not in r for r in ran.values()):
        record_quick_duration(seconds, load_at_start, args.device)
    print(plain_table(ran or drop_superseded(load_results(everything, args.quick))))
    output = args.output or (None if args.quick else REPO / "BENCHMARKS.md")
    if output is not None:
        # the latest result of every benchmark: just run, else the stored one
        stored = load_results(everything, args.quick)
        results = {name: ran.get(name, stored.get(name)) for name in everything}
        results = {name: result for name, result in results.items() if result is not None}
        results = drop_superseded(results)
        findings = args.findings.read_text(encoding="utf-8") if args.findings.exists() else None
        write_markdown(output, results, args.note, findings)
        print(f"wrote {output}")


if __name__ == "__main__":
    main()
