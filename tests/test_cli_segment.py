"""`semplan segment`: output formats, options, exit codes and the exact error lines."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from semplan.cli import cli
from semplan.data import sample_plan_paths

PLANS = ["city-2019", "daqing-2021", "hulunbuir-2021", "qingyuan-2022", "xx-county-2021"]


def _run(*args: str):
    return CliRunner().invoke(cli, ["segment", *args])


def _semplan(*args: str):
    """The real entry point in a subprocess, so error lines and exit codes are what a user sees."""
    return subprocess.run([sys.executable, "-m", "semplan", "segment", *args], capture_output=True, text=True)


def test_help_has_an_example():
    result = _run("--help")
    assert result.exit_code == 0 and "Example" in result.output and "semplan segment --stats" in result.output


def test_no_path_runs_on_the_sample_plans_and_prints_stats():
    result = _run("--stats")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("plan")
    assert [line.split()[0] for line in lines[1:6]] == PLANS
    total = int(lines[-1].split()[1])
    assert 550 <= total <= 750
    assert all(line.rstrip().endswith("none") for line in lines[1:6])  # no item-number gaps


def test_stats_as_json():
    result = _run("--stats", "--json")
    stats = json.loads(result.output)
    assert [s["plan_id"] for s in stats] == PLANS
    assert stats[0]["by_kind"]["lead"] == 1
    assert [s["by_kind"]["heading"] for s in stats] == [5, 0, 6, 7, 3]
    assert {"chrome_lines", "soft_breaks", "table_rows_skipped"} <= set(stats[0])


def test_stats_count_headings_notes_tables_and_chrome_per_plan():
    realworld = str(Path(__file__).resolve().parent / "data" / "realworld")
    result = _semplan(realworld, "--stats")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split()[:10] == ["plan", "clauses", "lead", "head", "title", "sent.", "note", "table", "chrome", "joined"]
    by_plan = {row.split()[0]: row.split() for row in rows}
    assert by_plan["sichuan-gwr-2026"][3] == "13" and int(by_plan["sichuan-gwr-2026"][6]) >= 20
    assert int(by_plan["sichuan-gwr-2026"][8]) >= 20  # chrome lines left out
    assert int(by_plan["taipei-neihu-plan-zh-hant"][7]) > 20  # table rows
    assert int(by_plan["liaoning-gwr-2026-wrapped30"][9]) > 500  # joined line breaks
    assert rows[-1].startswith("total") and "1 empty table row(s) skipped" in rows[-1]
    assert result.stderr.splitlines() == [
        f"semplan: {realworld}: skipped 2 file(s) of other types: SOURCES.md, expected.json"]


def test_a_file_of_unknown_type_is_read_with_a_warning(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("一、总则\n1.加强党的全面领导工作。\n", encoding="utf-8")
    result = _semplan(str(readme))
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        f"semplan: {readme}: not a known plan type (.txt, .text, .docx, .html, .htm, .pdf); read as plain text"]
    first = result.stdout.splitlines()[0].split("\t")
    assert (first[1], first[4]) == ("heading", "总则")


def test_plain_output_one_clause_per_line():
    path = str(sample_plan_paths()[2])  # hulunbuir
    result = _run(path)
    assert result.exit_code == 0
    first = result.output.splitlines()[0].split("\t")
    assert first[0] == "hulunbuir-2021#1" and first[1] == "lead" and first[4].startswith("2021年是")


def test_json_output_is_a_valid_array_with_spans():
    result = _run("--json")
    clauses = json.loads(result.output)
    assert 550 <= len(clauses) <= 750
    sources = {p.stem: p.read_text(encoding="utf-8") for p in sample_plan_paths()}
    for record in clauses[:50] + clauses[-50:]:
        source = sources[record["plan_id"]]
        assert "".join(source[s:e] for s, e in record["spans"]) == record["text"]
        assert record["clause_id"] == f"{record['plan_id']}#{record['n']}"


def test_csv_output_with_plan_id():
    path = str(sample_plan_paths()[4])  # county
    result = _run(path, "--csv", "--plan-id", "county")
    assert result.exit_code == 0
    assert result.output.startswith("\ufeff")  # Excel reads UTF-8 only after a byte-order mark
    rows = list(csv.DictReader(io.StringIO(result.output.removeprefix("\ufeff"))))
    assert rows[0]["clause_id"] == "county#1" and rows[0]["kind"] == "lead"
    two_spans = [row for row in rows if "+" in row["spans"]]
    assert any("加强高考选课指导" in row["text"] for row in two_spans)


def test_usage_errors():
    from cli_runner import semplan

    assert semplan("segment", "--json", "--csv") == (
        1, "", "Error: choose one of --json and --csv (see: semplan segment --help)\n")
    code, out, err = semplan("segment", str(sample_plan_paths()[0]), "--plan-id", "a", "--plan-id", "b")
    assert (code, out, err) == (1, "", "Error: 2 --plan-id values for 1 paths: give one per PATH (see: semplan segment --help)\n")


def test_empty_file_is_one_error_line(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    result = _semplan(str(empty))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [f"Error: {empty}: empty file"]


def test_binary_file_is_one_error_line(tmp_path):
    binary = tmp_path / "plan.txt"
    binary.write_bytes(b"\x00\x01\x02\xff" * 300)
    result = _semplan(str(binary))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"Error: {binary}: binary file, not text"]


def test_keep_going_processes_the_other_files(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    good = str(sample_plan_paths()[0])
    result = _semplan(str(empty), good, "--keep-going", "--json")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"Error: {empty}: empty file",
        f"Error: 1 input(s) could not be read: {empty}",
    ]
    clauses = json.loads(result.stdout)
    assert {c["plan_id"] for c in clauses} == {"city-2019"}
    stopped = _semplan(str(empty), good)
    assert stopped.returncode == 1 and stopped.stdout == ""
