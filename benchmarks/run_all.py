"""Run every benchmark, print one table of astaudio vs transformers, write BENCHMARKS.md.

    python benchmarks/run_all.py                # everything, writes BENCHMARKS.md (~1 h on 2 cores)
    python benchmarks/run_all.py --quick        # smoke run (~3 min), prints, writes nothing
    python benchmarks/run_all.py --only core    # some of them: core, e2e, memory, deploy, gpu
    python benchmarks/run_all.py --reuse --findings notes.md   # BENCHMARKS.md from results/
    python benchmarks/run_all.py --device cuda  # the same scripts on a GPU

Each benchmark is a script run as a subprocess with `--json`; every ratio in the table compares
astaudio with transformers measured in the same process, on the same machine, at the same time.
The raw results (machine, command, all numbers) stay in benchmarks/results/<name>.json.

Deployment hook: the "deploy" benchmark (bench_deploy.py) runs only where astaudio.export
(ONNX export, ONNX Runtime backend, int8) can be imported. Any script
here whose JSON holds "command" and "summary_rows" (what, astaudio, reference, ratio, target,
met) is rendered without changes to this file.
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

from bench_utils import default_device, machine_info

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"  # full runs: kept, BENCHMARKS.md is made from them
QUICK_RESULTS = Path(tempfile.gettempdir()) / "astaudio-benchmarks-quick"  # smoke runs


def deploy_available() -> bool:
    """The deployment benchmark needs astaudio.export (being written) and its script."""
    return (HERE / "bench_deploy.py").exists() and importlib.util.find_spec(
        "astaudio.export"
    ) is not None


BENCHMARKS = {  # name: (script, what it answers, runs when, extra arguments)
    "core": ("bench_core.py", "Core: features and model forward", lambda: True, []),
    "e2e": ("bench_e2e.py", "End to end: audio files in, tags out", lambda: True, ["--skip-long"]),
    "memory": ("bench_e2e.py", "Long recording: peak memory", lambda: True, ["--only-long"]),
    "deploy": ("bench_deploy.py", "Deployment: ONNX Runtime, int8", deploy_available, []),
    "gpu": ("bench_gpu.py", "GPU path: bf16 model, end to end from waveforms", lambda: True, []),
}


def run_benchmark(name: str, device: str, quick: bool, extra: list[str]) -> dict:
    script, _, _, defaults = BENCHMARKS[name]
    extra = defaults + extra
    output = (QUICK_RESULTS if quick else RESULTS) / f"{name}.json"
    output.parent.mkdir(exist_ok=True)
    shown = output.relative_to(REPO) if output.is_relative_to(REPO) else output
    command = [sys.executable, f"benchmarks/{script}", "--device", device, "--json", str(shown)]
    command += ["--quick"] if quick else []
    command += extra
    print(f"== {name}: {' '.join(command[1:])}", flush=True)
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=REPO, stdout=subprocess.DEVNULL)
    print(
        f"== {name}: {time.perf_counter() - start:.0f} s, exit {completed.returncode}", flush=True
    )
    if completed.returncode != 0 or not output.exists():
        return {"error": f"exit status {completed.returncode}", "summary_rows": []}
    return json.loads(output.read_text())


# -- rendering -----------------------------------------------------------------------------
def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}x"


def _met(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "**no**")


def summary_table(results: dict[str, dict]) -> str:
    lines = [
        "| Run | Measurement | astaudio | transformers | ratio | target | met |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for name, result in results.items():
        if "error" in result:
            lines.append(f"| {name} | failed ({result['error']}) | | | | | |")
        for row in result.get("summary_rows", []):
            lines.append(
                f"| {name} | {row['what']} | {row['astaudio']} | {row['reference']} | "
                f"{_ratio(row['ratio'])} | {row['target']} | {_met(row['met'])} |"
            )
    return "\n".join(lines)


def plain_table(results: dict[str, dict]) -> str:
    """The summary for a terminal."""
    out = []
    for name, result in results.items():
        if "error" in result:
            out.append(f"{name}: FAILED ({result['error']})")
        for row in result.get("summary_rows", []):
            verdict = {None: "", True: "target met", False: "TARGET MISSED"}[row["met"]]
            out.append(
                f"{name:7} {row['what'][:100]:100} {row['astaudio']:>10} {row['reference']:>10} "
                f"{_ratio(row['ratio']):>7} {row['target']:>9} {verdict}"
            )
    return "\n".join(out)


def machine_section(machine: dict, results: dict[str, dict], note: str | None) -> str:
    loads = [
        f"{name}: {r['machine']['load_average_1_5_15min']} at start, "
        f"{r['machine'].get('load_average_at_end')} at end"
        for name, r in results.items()
        if "machine" in r
    ]
    lines = [
        f"- CPU: {machine['cpu']}, {machine['cores']} cores visible, "
        f"torch threads {machine['torch_threads']}; device: {machine['device']}",
        f"- Python {machine['python']}, torch {machine['torch']}, numpy {machine['numpy']}, "
        f"transformers {machine['transformers']}",
        f"- Date: {machine['date_utc']}",
        f"- Load average (1, 5, 15 min) per benchmark: {'; '.join(loads)}",
    ]
    if note:
        lines.append(f"- {note}")
    return "\n".join(lines)


def core_section(core: dict) -> str:
    features, model = core["features"], core["model"]
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
        f"{model['astaudio_fraction_of_matmul']:.0%} of the matmul rate), transformers "
        f"{model['transformers_clips_per_s']:.3f} clips/s "
        f"({model['transformers_tflops']:.3f} TFLOP/s, "
        f"{model['transformers_fraction_of_matmul']:.0%}): {model['ratio']:.2f}x. Largest "
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
    lines += [f"- {line}" for line in result.get("details", [])]
    lines.append(f"- Raw results: benchmarks/results/{name}.json.")
    return "\n".join(lines) + "\n"


def write_markdown(
    path: Path,
    results: dict[str, dict],
    note: str | None,
    device: str,
    findings: str | None = None,
) -> None:
    machine = next((r["machine"] for r in results.values() if "machine" in r), None)
    machine = machine or machine_info(device)
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
    gpu = (
        "Measured on the GPU above."
        if machine["device"] != "cpu"
        else "Not measured in this session: this machine has no GPU. The same scripts run "
        "unchanged there: `python benchmarks/run_all.py --device cuda` (the default when CUDA "
        "is available)."
    )
    deploy = (
        ""
        if "deploy" in results
        else "\n## Deployment (ONNX Runtime, int8)\n\nNot measured yet: `run_all.py` runs "
        "benchmarks/bench_deploy.py once astaudio.export exists.\n"
    )
    text = f"""# Benchmarks

astaudio against Hugging Face transformers, measured in the same run on the same machine, so
the ratios hold even where the absolute numbers move with the machine's load. Speed targets are
checked here, never in the test suite. Regenerate: `python benchmarks/run_all.py` (raw
results: benchmarks/results/*.json; `--quick` for a smoke run).

## Summary

{summary_table(results)}

{"## Findings" + chr(10) + chr(10) + findings.strip() + chr(10) + chr(10) if findings else ""}## Machine

{machine_section(machine, results, note)}

## Details

{chr(10).join(sections)}
## GPU

{gpu}
{deploy}"""
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
        help="markdown file (default: BENCHMARKS.md for a full run, none with --quick)",
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
        default=None,
        help="markdown with the analysis of this run, copied in under '## Findings'",
    )
    args = parser.parse_args()
    names = args.only or [name for name, (_, _, runs, _) in BENCHMARKS.items() if runs()]
    results = {}
    for name in names:
        if args.reuse:
            path = (QUICK_RESULTS if args.quick else RESULTS) / f"{name}.json"
            if path.exists():
                results[name] = json.loads(path.read_text())
            continue
        extra = args.e2e_args.split() if BENCHMARKS[name][0] == "bench_e2e.py" else []
        results[name] = run_benchmark(name, args.device, args.quick, extra)
    print(plain_table(results))
    output = args.output or (None if args.quick else REPO / "BENCHMARKS.md")
    if output is not None:
        findings = args.findings.read_text(encoding="utf-8") if args.findings else None
        write_markdown(output, results, args.note, args.device, findings)
        print(f"wrote {output}")


if __name__ == "__main__":
    main()
