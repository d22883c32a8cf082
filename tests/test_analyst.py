"""The analyst's day on the sample plans: report.xlsx, CSVs Excel opens, DataFrames, progress on stderr."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from cli_runner import semplan

from semplan._csv import BOM


@pytest.fixture(scope="module")
def sample_index(sample_index_dir):
    return sample_index_dir


@pytest.fixture(scope="module")
def report_dir(sample_index, tmp_path_factory, cache_env):
    out = tmp_path_factory.mktemp("analyst") / "report"
    code, _, err = semplan("report", "--index", str(sample_index), "--out", str(out))
    assert code == 0, err
    return out


# ------------------------------------------------------------------ spreadsheets


def test_report_xlsx_has_a_sheet_per_view(report_dir):
    import openpyxl

    workbook = openpyxl.load_workbook(report_dir / "report.xlsx")
    assert workbook.sheetnames == ["priorities", "evidence", "clauses", "plan x plan", "unique clauses", "over time"]
    headers = {sheet.title: [cell.value for cell in sheet[1]] for sheet in workbook}
    assert headers["priorities"][:4] == ["priority_id", "label", "keywords", "tier"]
    assert headers["evidence"][:5] == ["priority_id", "label", "tier", "plan", "covers"]
    assert headers["clauses"][-1] == "text"
    assert headers["plan x plan"] == ["plan", "city-2019", "daqing-2021", "hulunbuir-2021", "qingyuan-2022",
                                      "xx-county-2021"]  # fmt: skip
    assert headers["over time"][:5] == ["priority_id", "label", "2019", "2021", "2022"]
    assert all(sheet.freeze_panes in ("B2", "C2") for sheet in workbook)
    assert workbook["clauses"].freeze_panes == "B2" and workbook["priorities"].freeze_panes == "C2"
    assert all(sheet.max_row > 1 for sheet in workbook)

    clauses = workbook["clauses"]
    text_column = headers["clauses"].index("text") + 1
    texts = [row[0] for row in clauses.iter_rows(min_row=2, min_col=text_column, max_col=text_column, values_only=True)]
    chinese = next(text for text in texts if re.search(r"[\u4e00-\u9fff]{6}", text))
    assert chinese in (report_dir / "clauses.csv").read_text(encoding="utf-8-sig")
    letter = openpyxl.utils.get_column_letter(text_column)
    assert clauses.column_dimensions[letter].width == 62  # capped at 60 display columns, +2
    assert clauses.cell(row=2, column=text_column).alignment.wrap_text
    plan_letter = openpyxl.utils.get_column_letter(headers["clauses"].index("plan") + 1)
    assert clauses.column_dimensions[plan_letter].width == len("hulunbuir-2021") + 2
    assert clauses.max_row - 1 == sum(1 for _ in _csv_rows(report_dir / "clauses.csv")) - 1


def _csv_rows(path: Path):
    import csv

    with open(path, encoding="utf-8-sig", newline="") as handle:
        yield from csv.reader(handle)


def test_display_width_counts_cjk_twice():
    from semplan.report.xlsx import display_width

    assert display_width("abc") == 3
    assert display_width("课后服务") == 8
    assert display_width("ＡＢ12") == 6


def test_xlsx_never_writes_a_formula(tmp_path):
    import openpyxl

    from semplan.report.xlsx import _fill_sheet

    workbook = openpyxl.Workbook()
    _fill_sheet(workbook.active, ["plan", "text"], [["=HYPERLINK(\"http://x\",\"y\")", "a\x01b 课后服务"]], 1)
    workbook.save(tmp_path / "t.xlsx")
    sheet = openpyxl.load_workbook(tmp_path / "t.xlsx").active
    assert sheet["A2"].data_type == "s" and sheet["A2"].value == '=HYPERLINK("http://x","y")'
    assert sheet["B2"].value == "a\\x01b 课后服务"
    assert sheet.column_dimensions["B"].width == len("a\\x01b ") + 8 + 2


def test_xlsx_title_and_cells_with_characters_xml_cannot_hold(tmp_path):
    """Found by the report fuzz test: a title of "\x1f" made saving the workbook fail."""
    import openpyxl

    from semplan.report.xlsx import xml_text

    workbook = openpyxl.Workbook()
    workbook.properties.title = xml_text("报告\x1f\ud800")
    workbook.active["A1"] = xml_text("\ufffe条款")
    workbook.save(tmp_path / "t.xlsx")
    reread = openpyxl.load_workbook(tmp_path / "t.xlsx")
    assert reread.properties.title == "报告\\x1f\\ud800" and reread.active["A1"].value == "\\ufffe条款"


def test_every_csv_starts_with_a_byte_order_mark(sample_index, report_dir, cache_env):
    """Excel on Windows reads a CSV without a BOM in the local code page: Chinese turns to mojibake."""
    written = sorted(report_dir.glob("*.csv"))
    assert [path.name for path in written] == ["clauses.csv", "priorities.csv"]
    for path in written:
        assert path.read_bytes().startswith(BOM.encode("utf-8")), path
    index = str(sample_index)
    runs = [
        ("similar", "课后服务", "--index", index, "--csv"),
        ("similar", "--plan", "daqing-2021", "--index", index, "--min-score", "0.9", "--csv"),
        ("compare", "daqing-2021", "hulunbuir-2021", "--index", index, "--csv"),
        ("trends", "--index", index, "--csv"),
        ("plans", "--index", index, "--csv"),
    ]
    for args in runs:
        code, out, err = semplan(*args)
        assert code == 0, (args, err)
        assert out.startswith(BOM) and out.count(BOM) == 1, args


def test_every_csv_writer_goes_through_the_safe_writer():
    """csv.writer appears only in semplan/_csv.py; everything else writes CSV through it."""
    package = Path(__file__).resolve().parent.parent / "semplan"
    writer = re.compile(r"(?<![\w.])csv\.(writer|DictWriter)\(")
    users = sorted(str(path.relative_to(package)) for path in package.rglob("*.py") if writer.search(path.read_text()))
    assert users == ["_csv.py"]


# ------------------------------------------------------------------ DataFrames


@pytest.fixture(scope="module")
def corpus(sample_index):
    from semplan.store import Corpus

    with Corpus.open(sample_index) as corpus:
        yield corpus


def test_clauses_frame_is_the_index(corpus):
    frame = corpus.clauses_frame()
    assert len(frame) == len(corpus)
    assert list(frame.columns[:4]) == ["clause_id", "plan", "n", "kind"]
    assert sorted(frame["plan"].unique()) == [plan.plan_id for plan in corpus.plans()]
    assert frame.groupby("year")["plan"].nunique().to_dict() == {2019: 1, 2021: 3, 2022: 1}
    first = corpus.clauses("daqing-2021")[0]
    row = frame.set_index("clause_id").loc[first.clause_id]
    assert (row["text"], row["start"], row["end"]) == (first.text, *first.extent)
    assert len(corpus.clauses_frame("daqing-2021")) == len(corpus.clauses("daqing-2021"))


def test_search_and_alignment_frames(corpus, e5_encoder):
    from semplan.search import PlanFilter, Searcher

    searcher = Searcher(corpus, e5_encoder)
    hits = searcher.by_text("课后服务", k=5)
    frame = hits.to_frame()
    assert list(frame["clause_id"]) == [hit.clause_id for hit in hits]
    assert frame["score"].is_monotonic_decreasing and re.search("课后|課後", frame["text"].iloc[0])
    assert list(searcher.by_clause(hits[0].clause_id, k=3).to_frame().columns) == list(frame.columns)

    aligned = searcher.align("daqing-2021", plans=PlanFilter(only=("hulunbuir-2021", "qingyuan-2022")), min_score=0.9)
    long = aligned.to_frame()
    assert len(long) == 2 * len(aligned)  # one row per clause and other plan, matched or not
    matched = long.dropna(subset=["match_clause_id"])
    assert set(matched["match_plan"]) <= {"hulunbuir-2021", "qingyuan-2022"} and (matched["match_score"] >= 0.9).all()
    assert long["match_clause_id"].isna().sum() == sum(hit is None for row in aligned for hit in row.matches.values())


def test_comparison_and_analysis_frames(corpus):
    from semplan.cluster import find_priorities
    from semplan.compare import compare_plans

    comparison = compare_plans(corpus, "daqing-2021", "hulunbuir-2021")
    frame = comparison.to_frame()
    assert len(frame) == len(comparison.pairs)
    assert frame["status"].value_counts().to_dict() == {k: v for k, v in comparison.counts().items() if v}

    analysis = find_priorities(corpus.clauses(), corpus.vectors(), map_2d=False)
    clauses = analysis.to_frame()
    assert len(clauses) == len(corpus) and list(clauses["clause_id"]) == [c.clause_id for c in analysis.clauses]
    assert clauses["priority_id"].isna().sum() == len(analysis.outliers)
    priorities = analysis.priorities_frame()
    assert list(priorities["priority_id"]) == [p.priority_id for p in analysis.priorities]
    assert (priorities[analysis.plans].sum(axis=1) == priorities["size"]).all()


def test_without_pandas_the_error_says_how_to_install_it(corpus, monkeypatch):
    from semplan.errors import MissingDependency

    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(MissingDependency, match=r"pip install 'semplan\[frames\]'"):
        corpus.clauses_frame()


# ------------------------------------------------------------------ progress


def test_indexing_reports_files_stages_and_texts(tmp_path, e5_encoder, sample_dir, sample_paths, recording_progress):
    from semplan.ingest import index_paths
    from semplan.store import Corpus

    progress = recording_progress
    with Corpus.create(tmp_path / "index", e5_encoder.identity()) as corpus:
        index_paths(corpus, [sample_dir], encoder=e5_encoder, progress=progress)
    n = len(sample_paths)
    assert progress.stages() == [("read", n, "files"), ("index", n, "files"), ("save", None, "")]
    read_end = progress.events.index(("stage", "index", n, "files"))
    assert sum(event[1] for event in progress.events[:read_end] if event[0] == "advance") == n
    assert sum(event[1] for event in progress.events[read_end:] if event[0] == "advance") == n
    details = [event[1] for event in progress.events if event[0] == "detail"]
    assert "segment daqing-2021" in details and "write daqing-2021" in details
    assert any(re.fullmatch(r"daqing-2021 encode \d+/\d+ texts", detail) for detail in details)
    assert e5_encoder.progress is not progress  # the encoder's own progress is back


def test_clustering_names_its_stages(corpus, recording_progress):
    from semplan.cluster import find_priorities

    progress = recording_progress
    find_priorities(corpus.clauses(), corpus.vectors(), map_2d=False, progress=progress)
    assert [stage[0] for stage in progress.stages()] == ["umap", "hdbscan", "labels", "priorities", "matching"]


def test_the_bar_names_the_stage_and_counts_files(tmp_path, sample_dir, sample_paths, cache_env, monkeypatch):
    monkeypatch.setenv("SEMPLAN_PROGRESS", "1")  # as if stderr were a terminal
    code, out, err = semplan("index", str(sample_dir), "--out", str(tmp_path / "index"))
    assert code == 0, err
    n = len(sample_paths)
    assert re.search(rf"index: read: 100%\|\S+\| {n}/{n} files \[", err)
    assert re.search(rf"index: index: +\d+%\|.+\| [0-{n}]/{n} files \[[0-9:]+<[0-9:?]+, +[0-9.?]+ files/s, \S", err)
    assert re.search(rf"index: index: 100%\|\S+\| {n}/{n} files", err)
    assert re.search(r"index: save \[[0-9:]+, commit, FAISS index, manifest\]", err)
    assert "plans: 5 added" in err


def test_quiet_is_silent_and_a_pipe_gets_only_notices(tmp_path, sample_paths, cache_env, monkeypatch):
    paths = [str(path) for path in sample_paths[:2]]
    monkeypatch.setenv("SEMPLAN_PROGRESS", "1")
    code, _, err = semplan("--quiet", "index", *paths, "--out", str(tmp_path / "quiet"))
    assert (code, err) == (0, "")
    monkeypatch.delenv("SEMPLAN_PROGRESS")  # stderr is not a terminal here
    code, _, err = semplan("index", *paths, "--out", str(tmp_path / "plain"))
    assert code == 0 and "\r" not in err and "files [" not in err
    assert all(line.startswith(str(tmp_path / "plain")) for line in err.splitlines()), err
    code, _, err = semplan("--verbose", "index", *paths, "--out", str(tmp_path / "verbose"))
    assert code == 0 and re.search(r"semplan: DEBUG semplan.ingest: \S+: \d+ clauses written", err), err
    code, _, err = semplan("--quiet", "--verbose", "index", *paths, "--out", str(tmp_path / "both"))
    assert code == 1 and err.startswith("Error: choose one of --quiet and --verbose")
