"""The driver behind bench/gpu_check.sh: the `cuda` tests, then the bench's GPU section, then a verdict.

`python -m bench.gpu_check --data-dir D --out OUTDIR [--parts tests,bench]` writes to OUTDIR:
cuda-tests.log and cuda-tests.xml (pytest), bench.log and bench-gpu.json (`python -m bench --only gpu`),
gpu_check.json (every check with its figure) and summary.txt (printed too). Exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("tests", "bench")
BENCH_OPTIONS = ["--only=gpu", "--seconds=2", "--rounds=2", "--cnn-seeds=0,1,2", "--best-seeds=0,1,2"]


def run_logged(command: list[str], log: Path, env: dict[str, str], timeout: float) -> tuple[int, float]:
    """(exit code, seconds) of a command whose output goes to `log`; 124 where it ran past `timeout`."""
    started = time.perf_counter()
    with open(log, "w") as out:
        try:
            code = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT, timeout=timeout)
            returncode = code.returncode
        except subprocess.TimeoutExpired:
            out.write(f"\n[gpu_check] stopped after {timeout:.0f} s\n")
            returncode = 124
    return returncode, round(time.perf_counter() - started, 1)


def test_counts(junit: Path) -> dict[str, Any]:
    """passed/failed/skipped from pytest's JUnit XML, with the names of the tests that did not pass."""
    if not junit.is_file():
        return {"passed": 0, "failed": 0, "skipped": 0, "not_passed": ["no test report was written"]}
    counts = {"passed": 0, "failed": 0, "skipped": 0, "not_passed": []}
    for case in ElementTree.parse(junit).iter("testcase"):
        outcome = next((child for child in case if child.tag in ("failure", "error", "skipped")), None)
        if outcome is None:
            counts["passed"] += 1
            continue
        kind = "skipped" if outcome.tag == "skipped" else "failed"
        counts[kind] += 1
        counts["not_passed"].append(f"{case.get('name')}: {kind}: {(outcome.get('message') or '').splitlines()[:1]}")
    return counts


def check_tests(out: Path, env: dict[str, str], pytest_args: list[str]) -> dict[str, Any]:
    junit = out / "cuda-tests.xml"
    # The cuda tests' own module: collecting the whole suite would need its test-only plugins installed too.
    command = [sys.executable, "-m", "pytest", "tests/test_cuda.py", "-m", "cuda", "-p", "no:cacheprovider", "-rs"]
    code, seconds = run_logged([*command, f"--junitxml={junit}", *pytest_args], out / "cuda-tests.log", env, 360)
    counts = test_counts(junit)
    # On a GPU machine a skipped cuda test proved nothing: it counts against the check like a failure.
    passed = code == 0 and counts["passed"] > 0 and counts["failed"] == 0 and counts["skipped"] == 0
    return {"name": "cuda tests", "passed": passed, "exit_code": code, "seconds": seconds, **counts}


def check_bench(out: Path, env: dict[str, str], data_dir: Path, bench_args: list[str]) -> list[dict[str, Any]]:
    from bench.gpu import target_checks

    results = out / "bench-gpu.json"
    command = [sys.executable, "-m", "bench", f"--data-dir={data_dir}", f"--out={results}", *BENCH_OPTIONS, *bench_args]
    code, seconds = run_logged(command, out / "bench.log", env, 420)
    ran = {"name": "bench gpu section", "passed": code == 0, "exit_code": code, "seconds": seconds}
    if code != 0 or not results.is_file():
        return [ran]
    return [ran, *target_checks(json.loads(results.read_text())["gpu"])]


def summary_text(report: dict[str, Any]) -> str:
    lines = [f"mnist-tui GPU check on {report['gpu']} ({report['date']})"]
    for check in report["checks"]:
        mark = "pass" if check["passed"] else "FAIL"
        detail = {key: value for key, value in check.items() if key not in ("name", "passed", "not_passed")}
        lines.append(f"  {mark}  {check['name']}: {json.dumps(detail)}")
        lines += [f"        {line}" for line in check.get("not_passed", [])]
    failed = [check["name"] for check in report["checks"] if not check["passed"]]
    lines.append("all checks passed" if not failed else f"{len(failed)} check(s) failed: {', '.join(failed)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="folder holding MNIST/raw/...")
    parser.add_argument("--out", type=Path, required=True, help="folder for the logs, JSON and summary")
    parser.add_argument("--parts", default=",".join(PARTS), help="tests, bench or both")
    parser.add_argument("--pytest-args", default="", help="extra pytest arguments, e.g. '-k oom'")
    parser.add_argument("--bench-args", default="", help="extra bench arguments, e.g. '--gpu-parts=accuracy'")
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("no CUDA device here (torch sees none): nothing to check on a GPU")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MNIST_TUI_TEST_DATA": str(args.data_dir.resolve()), "PYTHONUNBUFFERED": "1"}
    parts = {part.strip() for part in args.parts.split(",")}
    checks: list[dict[str, Any]] = []
    if "tests" in parts:
        checks.append(check_tests(args.out, env, args.pytest_args.split()))
    if "bench" in parts:
        checks += check_bench(args.out, env, args.data_dir.resolve(), args.bench_args.split())
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "gpu": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "checks": checks,
    }
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")
    text = summary_text(report)
    (args.out / "summary.txt").write_text(text + "\n")
    print(text)
    return 0 if all(check["passed"] for check in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
