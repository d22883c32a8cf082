"""Terminal output that fits (display columns, --width, $COLUMNS) and batch queries (`similar --queries`)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from cli_runner import semplan

from semplan.cli._format import Piece, cut, terminal_width, wrapped
from semplan.cli._table import Column, Table, padded
from semplan.normalize import display_width

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def widest(out: str) -> int:
    return max((display_width(ANSI.sub("", line)) for line in out.splitlines()), default=0)


@pytest.fixture(scope="module")
def index(sample_index_dir) -> Path:
    return sample_index_dir  # these tests only read it


@pytest.fixture(autouse=True)
def no_columns(monkeypatch, cache_env):
    monkeypatch.delenv("COLUMNS", raising=False)


# ------------------------------------------------------------------ the formatting module


def test_display_width_counts_cjk_as_two_and_marks_as_none():
    assert display_width("abc") == 3 and display_width("课后服务") == 8 and display_width("ＡＢ") == 4
    assert display_width("e\u0301") == 1 and display_width("a\u200bb") == 2


def test_cut_and_wrap_never_pass_the_width_and_lose_nothing():
    text = "加强学前教育普惠发展, after-school services for every pupil in town, 推进课后服务工作。" * 3
    for width in (20, 41, 80):
        line = cut([Piece(text, {"fg": "cyan"})], width)
        assert display_width(ANSI.sub("", line)) <= width and ANSI.sub("", line).endswith("…")
        lines = [ANSI.sub("", line) for line in wrapped(["  ", Piece(text, {"bold": True})], width, indent=4)]
        assert all(display_width(line) <= width for line in lines)
        assert "".join(line.strip() for line in lines).replace(" ", "") == text.replace(" ", "")
    # A Latin word is not cut in the middle when a space is near.
    assert [line.strip() for line in wrapped(["alpha beta gamma delta"], 12)] == ["alpha beta", "gamma delta"]
    assert cut(["short"], 10) == "short"


def test_table_columns_share_the_width_and_cut_with_an_ellipsis():
    table = Table([Column("id", 4, ">"), Column("label"), Column("central clause")], 60)
    line = table.line(["P1", "现代学徒制 / 专业设置 / 规模 / 职业教育", "發揮職業院校資源優勢,擴大社會培訓規模,提昇職業教育"])
    assert display_width(line) <= 60 and line.startswith("  P1  现代学徒制") and "…" in line
    assert padded("课后", 6) == "课后  " and padded("课后服务", 7) == "课后服…"


def test_width_comes_from_the_option_then_columns_then_a_default(monkeypatch):
    assert terminal_width(70) == 70 and terminal_width(10) == 40
    assert terminal_width() == 100  # not a terminal
    monkeypatch.setenv("COLUMNS", "132")
    assert terminal_width() == 132 and terminal_width(90) == 90


# ------------------------------------------------------------------ commands


def test_similar_plan_fits_100_columns_off_a_terminal(index):
    """`similar --plan` printed lines up to 304 columns wide (217 of 490 lines over 100)."""
    code, out, err = semplan("similar", "--plan", "daqing-2021", "--index", str(index))
    assert code == 0, err
    assert len(out.splitlines()) > 400 and widest(out) <= 100
    code, narrow, _ = semplan("similar", "--plan", "daqing-2021", "--index", str(index), "--width", "60")
    assert code == 0 and widest(narrow) <= 60


@pytest.mark.parametrize("args", [["课后服务", "-k", "5"], ["--clause", "hulunbuir-2021#60", "-k", "5"]],
                         ids=["text", "clause"])
def test_similar_hits_fit_columns_from_the_environment(index, monkeypatch, args):
    monkeypatch.setenv("COLUMNS", "72")
    code, out, err = semplan("similar", *args, "--index", str(index))
    assert code == 0, err
    assert widest(out) <= 72 and "«" in out


def test_similar_clause_echoes_the_query_clause_first(index):
    """`similar --clause` never printed the clause it searched with."""
    from semplan.store import Corpus

    with Corpus.open(index) as corpus:
        text = corpus.clause("hulunbuir-2021#60").text
    code, out, err = semplan("similar", "--clause", "hulunbuir-2021#60", "--index", str(index), "-k", "2")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("query  hulunbuir-2021#60")
    assert "".join(line.strip() for line in lines[1 : lines.index("")]) == text.replace(" ", "")
    assert lines[lines.index("") + 1].startswith("  1. 0.")


def test_context_is_counted_in_display_columns(index):
    """--context 30 showed 30 characters: 60 columns of Chinese on each side."""
    code, out, err = semplan("similar", "课后服务", "--index", str(index), "-k", "5", "--context", "10",
                             "--width", "400")
    assert code == 0, err
    befores = re.findall(r"…([^«…]*)«", out)
    afters = re.findall(r"»([^…]*)…", out)
    assert befores and afters
    assert all(display_width(piece) <= 10 for piece in befores + afters)
    assert any(display_width(piece) >= 9 for piece in befores), "the context is filled up to its columns"


@pytest.mark.parametrize("args", [["plans"], ["compare", "hulunbuir-2021", "qingyuan-2022"]], ids=["plans", "compare"])
def test_plans_and_compare_fit_the_width(index, args):
    code, out, err = semplan(*args, "--index", str(index), "--width", "64")
    assert code == 0, err
    assert out.strip() and widest(out) <= 64


# ------------------------------------------------------------------ batch queries


def test_searcher_by_texts_answers_like_by_text_one_at_a_time(index):
    from semplan.search import Searcher
    from semplan.store import Corpus

    queries = ["课后服务", "Regulate private after-school tutoring companies", "校园足球"]
    with Corpus.open(index) as corpus:
        searcher = Searcher(corpus)
        batch = searcher.by_texts(queries, k=4)
        single = [searcher.by_text(query, k=4) for query in queries]
    assert [[hit.clause_id for hit in hits] for hit_list in [batch] for hits in hit_list] == \
        [[hit.clause_id for hit in hits] for hits in single]
    assert all(abs(a.score - b.score) < 1e-4 for hits_a, hits_b in zip(batch, single, strict=True)
               for a, b in zip(hits_a, hits_b, strict=True))


def test_queries_file_of_lines_keyed_by_line_number(index, tmp_path):
    queries = tmp_path / "queries.txt"
    queries.write_text("课后服务\n\n校园足球\n", encoding="utf-8")
    code, out, err = semplan("similar", "--queries", str(queries), "--index", str(index), "-k", "3", "--json")
    assert code == 0, err
    answers = json.loads(out)
    assert list(answers) == ["1", "3"] and answers["3"]["text"] == "校园足球"
    assert all(len(answer["hits"]) == 3 for answer in answers.values())
    code, single, _ = semplan("similar", "校园足球", "--index", str(index), "-k", "3", "--json")
    assert [hit["clause_id"] for hit in answers["3"]["hits"]] == [hit["clause_id"] for hit in json.loads(single)]

    code, out, err = semplan("similar", "--queries", str(queries), "--index", str(index), "-k", "2")
    assert code == 0 and widest(out) <= 100
    assert [line for line in out.splitlines() if line.startswith("query ")] == ["query 1  课后服务", "query 3  校园足球"]


def test_queries_jsonl_with_ids_as_csv(index, tmp_path):
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"id": "q-after-school", "text": "课后服务"}\n{"id": 7, "text": "=SUM(1) 校园足球"}\n',
                       encoding="utf-8")
    code, out, err = semplan("similar", "-q", str(queries), "--index", str(index), "-k", "2", "--csv")
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out.lstrip("\ufeff"))))
    assert rows[0][:4] == ["query_id", "query", "rank", "score"]
    assert [(row[0], row[2]) for row in rows[1:]] == [("q-after-school", "1"), ("q-after-school", "2"), ("7", "1"),
                                                      ("7", "2")]
    assert rows[3][1] == "'=SUM(1) 校园足球", "a query that starts like a formula is not one in a spreadsheet"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "{path}: cannot read the queries file (No such file or directory)"),
        ("", "{path}: the queries file has no queries"),
        ("\n  \n", "{path}: the queries file has no queries"),
        ('{"text": "课后服务"}\n{"text": "校园足球"\n', "{path} line 2: not valid JSON (Expecting ',' delimiter)"),
        ('{"text": "课后服务"}\n["校园足球"]\n', '{path} line 2: expected a JSON object with "text"'),
        ('{"id": 1, "text": ""}\n', '{path} line 1: "text" must be a non-empty string'),
        ('{"id": "a", "text": "x"}\n\n{"id": "a", "text": "y"}\n', "{path} line 3: query id 'a' repeats line 1"),
        ('{"id": true, "text": "x"}\n', '{path} line 1: "id" must be a non-empty string or a number'),
        (b"\xff\xfe\x00", "{path}: the queries file is not UTF-8 (byte 0)"),
        ("课后服务\n\u200b\n", "Error: query 2: the query text has no letters or digits"),
    ],
    ids=["missing", "empty", "blank", "bad-json", "not-object", "empty-text", "repeated-id", "bool-id", "not-utf8",
         "no-letters"],
)
def test_bad_queries_file_is_one_line(index, tmp_path, content, expected):
    path = tmp_path / "queries.jsonl"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    code, out, err = semplan("similar", "--queries", str(path), "--index", str(index))
    expected = expected.format(path=path)
    assert (code, out) == (1, "")
    assert err == (expected if expected.startswith("Error: ") else f"Error: {expected}") + "\n"


def test_queries_goes_alone(index, tmp_path):
    path = tmp_path / "q.txt"
    path.write_text("课后服务\n", encoding="utf-8")
    code, _, err = semplan("similar", "课后服务", "--queries", str(path), "--index", str(index))
    assert code == 1 and "give exactly one of TEXT, --clause PLAN#N, --plan PLAN or --queries FILE" in err
