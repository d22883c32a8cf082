"""python -m benchmarks [encode|memory|reindex|search|cluster|queries|all|scale] [--quick] [--check] [--json OUT]

Prints one table per section and writes every figure, with the machine's description, as JSON
(default: benchmarks/results/SECTION-TIMESTAMP.json, git-ignored).

Examples:
    python -m benchmarks                         # everything (tens of minutes on 2 cores)
    python -m benchmarks encode                  # encoding: every backend vs sentence-transformers
    python -m benchmarks encode --quick --check  # the CI guard: exit 1 if the default backend regressed
    python -m benchmarks encode --quick --update-baseline   # re-commit the guard's reference figure
    python -m benchmarks scale --clauses 200000  # Ray vs one process on a synthetic corpus (not in "all")
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASELINE_FILE = HERE / "baseline.json"
RESULTS_DIR = HERE / "results"
SECTIONS = ("encode", "memory", "reindex", "search", "cluster", "queries")
# Columns shown in the tables (everything is in the JSON).
COLUMNS = {
    "encode": (
        "engine", "backend", "texts", "cpu_kind", "load_avg", "clauses_per_s", "ratio_to_baseline",
        "clauses_per_cpu_s", "cpu_ratio_to_baseline", "mean_cosine_to_fp32", "min_cosine_to_fp32", "peak_rss_mb", "load_s", "gflops", "share_of_fp32_peak",
    ),
    "reindex": ("case", "backend", "plans", "clauses", "texts_encoded", "seconds", "speedup_vs_cold"),
}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="semplan benchmarks: encoding speed and quality, encoding memory, re-indexing, search, clustering.",
        epilog="example: python -m benchmarks encode --quick --check",
    )
    parser.add_argument("section", nargs="?", default="all", choices=(*SECTIONS, "all", "scale"))
    parser.add_argument("--clauses", type=int, default=200_000, help="scale: synthetic clauses to index")
    parser.add_argument("--local-clauses", type=int, default=None,
                        help="scale: index only this many of them in one process (default: all)")
    parser.add_argument("--engines", default="ray,local", help="scale: engines to run, comma-separated")
    parser.add_argument("--ann-threshold", type=int, default=100_000,
                        help="scale: build IVF above this many clauses (to measure its recall)")
    parser.add_argument("--quick", action="store_true", help="a short run (the CI guard uses it)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the default encoder regressed")
    parser.add_argument("--json", metavar="OUT", type=Path, help="where to write the JSON results")
    parser.add_argument("--repeats", type=int, default=None, help="encoding rounds (default 3)")
    parser.add_argument(
        "--isa", choices=("avx2",), default=None,
        help="encode: hold OpenVINO, oneDNN, MKL and ATen (not onnxruntime) to this instruction set, emulating an AVX2-only CPU",
    )
    parser.add_argument(
        "--update-baseline", action="store_true", help="write this quick run's figures to benchmarks/baseline.json"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    sections = SECTIONS if args.section == "all" else (args.section,)
    if (args.check or args.update_baseline) and "encode" not in sections:
        parser.error("--check and --update-baseline need the encode section")
    if args.isa and (args.check or args.update_baseline):
        parser.error("--isa is for measuring, not for the guard: the guard compares this CPU's own figures")
    if args.update_baseline and not args.quick:
        parser.error("--update-baseline records the --quick figures the guard compares against: add --quick")

    from benchmarks.encode import machine_info

    results: dict = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": args.quick,
        "machine": machine_info(),
        "sections": {},
    }
    print(_describe_machine(results["machine"]))
    for section in sections:
        started = time.perf_counter()
        records = _run_section(section, args)
        results["sections"][section] = records
        print(f"\n## {section} ({time.perf_counter() - started:.0f} s)")
        print(format_table(records, COLUMNS.get(section)) if isinstance(records, list) else records["skipped"])

    status = 0
    if args.check:
        from benchmarks.encode import check, committed_ratio

        kind = results["machine"]["cpu_kind"]
        failure = check(results["sections"]["encode"], BASELINE_FILE, kind)
        results["check"] = failure or "ok"
        if failure:
            print(f"benchmark check failed: {failure}", file=sys.stderr)
            status = 1
        elif committed_ratio(BASELINE_FILE, kind) is None:
            results["check"] = f"no committed figure for a {kind} CPU: reported, not checked"
            print(f"\nbenchmark check: no committed figure for a {kind} CPU ({results['machine']['simd']}); "
                  "reported, not checked (commit one with --quick --update-baseline)")
        else:
            print(f"\nbenchmark check: ok (against the committed {kind} figure, "
                  f"{committed_ratio(BASELINE_FILE, kind):.2f}x)")
    if args.update_baseline:
        _update_baseline(results)
    out = args.json or RESULTS_DIR / f"{args.section}{'-quick' if args.quick else ''}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    _write_atomic(out, json.dumps(results, ensure_ascii=False, indent=2) + "\n")
    print(f"\nresults: {out}")
    return status


def _run_section(section: str, args) -> list[dict] | dict:
    if section == "scale":
        from benchmarks.scale import run as run_scale

        return run_scale(clauses=args.clauses, local_clauses=args.local_clauses, ann_threshold=args.ann_threshold,
                         engines=tuple(args.engines.split(",")))
    if section == "encode":
        from benchmarks.encode import run

        return run(quick=args.quick, repeats=args.repeats, isa=args.isa)
    if section == "memory":
        from benchmarks.encode import run_memory

        return run_memory(quick=args.quick)
    if section == "reindex":
        from benchmarks.encode import run_reindex

        return run_reindex(quick=args.quick)
    # search and cluster belong to the store and cluster modules' owners; they may not exist yet.
    try:
        module = importlib.import_module(f"benchmarks.{section}")
    except ModuleNotFoundError as error:
        if error.name != f"benchmarks.{section}":
            raise
        return {"skipped": f"benchmarks/{section}.py is not there yet: section skipped"}
    return module.run(quick=args.quick)


def format_table(records: list[dict], columns: tuple[str, ...] | None = None) -> str:
    """A plain-text table: one row per record, the given columns (default: every scalar key)."""
    if not records:
        return "(no records)"
    if columns is None:
        columns = tuple(
            key for key in dict.fromkeys(key for record in records for key in record)
            if key != "benchmark" and not isinstance(records[0].get(key), list | dict)
        )
    rows = [[_cell(record.get(column)) for column in columns] for record in records]
    widths = [max(len(column), *(len(row[i]) for row in rows)) for i, column in enumerate(columns)]
    lines = ["  ".join(column.ljust(width) for column, width in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _describe_machine(machine: dict) -> str:
    return (
        f"machine: {machine['cpu']}, {machine['cores']} cores at {machine['ghz']} GHz, {machine['simd']} "
        f"(CPU kind {machine['cpu_kind']}), "
        f"{machine['memory_gb']} GB; fp32 peak {machine['fp32_peak_gflops']} GFLOP/s; "
        f"load average {' '.join(str(value) for value in machine['load_average'])}"
    )


def _update_baseline(results: dict) -> None:
    default = next(record for record in results["sections"]["encode"] if record["engine"] == "auto")
    try:
        committed = json.loads(BASELINE_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        committed = {}
    by_kind = committed.get("encode", {}).get("by_cpu_kind", {})
    by_kind[results["machine"]["cpu_kind"]] = {
        "backend": default["backend"],
        "quick_ratio_to_baseline": default["ratio_to_baseline"],
        "quick_rates": {record["engine"]: record["rates"] for record in results["sections"]["encode"]},
        "mean_cosine_to_fp32": default["mean_cosine_to_fp32"],
        "min_cosine_to_fp32": default["min_cosine_to_fp32"],
        "measured": results["started"],
        "machine": results["machine"],
    }
    committed["encode"] = {"by_cpu_kind": by_kind}
    _write_atomic(BASELINE_FILE, json.dumps(committed, ensure_ascii=False, indent=2) + "\n")
    print(f"baseline: wrote {BASELINE_FILE}")


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(scratch, 0o644)
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


if __name__ == "__main__":
    sys.exit(main())
