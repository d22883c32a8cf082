"""`semplan index` and `semplan similar` end to end: real model, real FAISS and SQLite, real CLI."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest
from cli_runner import semplan
from click.testing import CliRunner
from crash import kill_at_fault_point
from csv_cells import is_number

from semplan.cli import cli
from semplan.search import Searcher
from semplan.segment import segment
from semplan.store import Corpus


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory, cache_env, sample_dir):
    directory = tmp_path_factory.mktemp("cli") / "index"
    code, out, err = semplan("index", str(sample_dir), "--out", str(directory))
    assert code == 0, err
    assert "5 added" in err and "5 plans" in err
    return directory


def anji_clause(index_dir: Path) -> str:
    """Hulunbuir's 实施“安吉游戏"推广计划 (dev-gold Q01, offset 2692)."""
    with Corpus.open(index_dir) as corpus:
        for clause in corpus.clauses("hulunbuir-2021"):
            if any(start <= 2692 < end for start, end in clause.spans):
                return clause.clause_id
    raise AssertionError("no clause at offset 2692")


def test_help_has_examples():
    for name in ("index", "similar"):
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0 and "Example:" in result.output and "semplan " + name in result.output


def test_similar_text_json(index_dir):
    code, out, err = semplan("similar", '实施"安吉游戏"推广计划', "--index", str(index_dir), "-k", "3", "--json",
                             "--exclude-plan", "hulunbuir-2021")
    assert code == 0, err
    hits = json.loads(out)
    assert len(hits) == 3
    assert {"plan", "clause_id", "kind", "section", "item", "text", "spans", "score"} <= set(hits[0])
    assert hits[0]["plan"] == "daqing-2021" and "實施『安吉游戲』推廣計劃" in hits[0]["text"]
    source = (Path(__file__).resolve().parent.parent / "semplan/data/sample_plans/daqing-2021.txt").read_text("utf-8")
    assert "".join(source[start:end] for start, end in hits[0]["spans"]) == hits[0]["text"]


def test_similar_text_human_output(index_dir):
    code, out, _ = semplan("similar", "Regulate private after-school tutoring companies", "--index", str(index_dir),
                           "-k", "2")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("  1. 0.") and "#" in lines[0]
    assert "«" in lines[1] and "»" in lines[1]  # the clause, marked, inside its source context


def test_similar_clause_and_csv(index_dir):
    clause_id = anji_clause(index_dir)
    code, out, err = semplan("similar", "--clause", clause_id, "--index", str(index_dir), "-k", "4", "--csv")
    assert code == 0, err
    rows = out.splitlines()
    assert rows[0] == "\ufeffrank,score,verdict,plan,clause_id,kind,section,item,path,text,spans,shared_terms"
    assert len(rows) == 5 and rows[1].split(",")[3] == "daqing-2021"
    assert rows[1].split(",")[2] == "same" and "安吉游戏" in rows[1].rsplit(",", 1)[1].split()
    assert all(",hulunbuir-2021," not in row for row in rows[1:])  # other plans only by default


def test_similar_plan_alignment(index_dir):
    code, out, err = semplan("similar", "--plan", "daqing-2021", "--index", str(index_dir), "--json",
                             "--only-plan", "hulunbuir-2021", "--only-plan", "qingyuan-2022", "--min-score", "0.8")
    assert code == 0, err
    rows = json.loads(out)
    assert rows[0]["clause"]["clause_id"] == "daqing-2021#1"
    assert all(set(row["matches"]) == {"hulunbuir-2021", "qingyuan-2022"} for row in rows)
    anji = next(row for row in rows if "實施『安吉游戲』推廣計劃" in row["clause"]["text"])
    assert anji["matches"]["hulunbuir-2021"]["clause_id"] == anji_clause(index_dir)
    assert anji["matches"]["hulunbuir-2021"]["verdict"] == "same"
    assert "安吉游戏" in anji["matches"]["hulunbuir-2021"]["shared_terms"]
    # a best match judged `different` is dropped unless --all-matches asks for it
    assert all(hit is None or hit["verdict"] != "different" for row in rows for hit in row["matches"].values())
    code, out, err = semplan("similar", "--plan", "daqing-2021", "--index", str(index_dir), "--json",
                             "--only-plan", "hulunbuir-2021", "--all-matches")
    everything = json.loads(out)
    assert any(row["matches"]["hulunbuir-2021"]["verdict"] == "different" for row in everything)
    code, out, _ = semplan("similar", "--plan", "daqing-2021", "--index", str(index_dir))
    assert code == 0 and "daqing-2021#1" in out.splitlines()[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["similar", "x", "--index", "{missing}"],
         "Error: no index at {missing} (create one with: semplan index PATH --out {missing})"),
        (["similar", "--plan", "nowhere-2020", "--index", "{index}"],
         "Error: unknown plan 'nowhere-2020' (the index has: city-2019, daqing-2021, hulunbuir-2021, "
         "qingyuan-2022, xx-county-2021)"),
        (["similar", "x", "--exclude-plan", "nowhere", "--index", "{index}"],
         "Error: unknown plan 'nowhere' (the index has: city-2019, daqing-2021, hulunbuir-2021, "
         "qingyuan-2022, xx-county-2021)"),
        (["similar", "", "--index", "{index}"], "Error: the query text is empty"),
        (["similar", "\u200b", "--index", "{index}"], "Error: the query text has no letters or digits"),
        (["similar", "--plan", "", "--index", "{index}"],
         "Error: unknown plan '' (the index has: city-2019, daqing-2021, hulunbuir-2021, qingyuan-2022, xx-county-2021)"),
        (["similar", "--clause", "daqing-2021-7", "--index", "{index}"],
         "Error: bad clause id 'daqing-2021-7': expected PLAN#N, e.g. daqing-2021#12"),
        (["similar", "--clause", "daqing-2021#9999", "--index", "{index}"],
         "Error: no clause 'daqing-2021#9999': plan 'daqing-2021' has clauses 1–{daqing}"),
        (["index", "--remove", "nowhere", "--out", "{index}"],
         "Error: unknown plan 'nowhere' (the index has: city-2019, daqing-2021, hulunbuir-2021, "
         "qingyuan-2022, xx-county-2021)"),
        (["index", "{sample}", "--out", "{index}", "--model", "use-multilingual"],
         "Error: index {index} was built with multilingual-e5-small@"),
    ],
)
def test_error_lines(index_dir, sample_dir, tmp_path, args, expected):
    with Corpus.open(index_dir) as corpus:
        daqing = corpus.plan("daqing-2021").n_clauses
    values = {"index": str(index_dir), "missing": str(tmp_path / "missing"), "sample": str(sample_dir),
              "daqing": daqing}
    code, out, err = semplan(*[arg.format(**values) for arg in args])
    assert code == 1 and out == ""
    message = expected.format(**values)
    if message.endswith("@"):  # the model mismatch line names revisions
        assert err.startswith(message) and err.count("\n") == 1 and ", not use-multilingual" in err
    else:
        assert err == message + "\n"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["similar", "text", "--clause", "a#1", "--index", "{index}"],
         "give exactly one of TEXT, --clause PLAN#N, --plan PLAN or --queries FILE (see: semplan similar --help)"),
        (["index", "--out", "{index}"],
         "give plan files or directories to index, or --remove PLAN (see: semplan index --help)"),
        (["index", "{sample}", "--out", "{index}", "--ann-threshold", "5"],
         "--ann-threshold applies only when creating an index (see: semplan index --help)"),
        (["similar", "x", "--index", "{index}", "-k", "1e18"],
         "Invalid value for '-k': '1e18' is not a valid integer. (see: semplan similar --help)"),
        (["similar", "x", "--index", "{index}", "-k", "0"],
         "Invalid value for '-k': 0 is not in the range x>=1. (see: semplan similar --help)"),
        (["similar", "x", "--index", "{index}", "--min-score", "nan"],
         "Invalid value for '--min-score': 'nan' is not a number between -1 and 1 (see: semplan similar --help)"),
        (["similar", "x"], "Missing option '--index' / '-i'. (see: semplan similar --help)"),
        (["similar", "x", "--index", "{index}", "--jsn"],
         "No such option '--jsn'. (Did you mean one of: '--csv', '--json'?) (see: semplan similar --help)"),
        (["indx"], "No such command 'indx'. (see: semplan --help)"),
        (["index", "a.txt", "b.txt", "--plan-id", "a-2021", "--out", "{index}"],
         "1 --plan-id values for 2 paths: give one per PATH (see: semplan index --help)"),
    ],
)
def test_usage_errors(index_dir, sample_dir, args, expected):
    """Usage errors were click's three lines (Usage:, Try …, Error:) and exit status 2; the README
    promises one `Error: …` line and exit status 1 for every bad input."""
    values = {"index": str(index_dir), "sample": str(sample_dir)}
    code, out, err = semplan(*[arg.format(**values) for arg in args])
    assert (code, out, err) == (1, "", f"Error: {expected}\n")


def test_remove_and_add_back(index_dir, tmp_path, sample_dir):
    directory = tmp_path / "index"
    shutil.copytree(index_dir, directory)
    code, _, err = semplan("index", "--remove", "city-2019", "--out", str(directory))
    assert code == 0 and "removed city-2019" in err and "4 plans" in err
    code, out, _ = semplan("similar", "--clause", "city-2019#1", "--index", str(directory))
    assert code == 1
    missing = tmp_path / "missing-2020.txt"
    code, _, err = semplan("index", str(missing), str(sample_dir / "city-2019.txt"), "--keep-going", "--out", str(directory))
    assert code == 1 and "1 added" in err and "(0 texts encoded, " in err  # the embedding cache still had them
    assert err.splitlines()[-1] == f"Error: 1 input(s) could not be indexed: {missing}"
    code, _, err = semplan("index", str(sample_dir), "--out", str(directory))
    assert code == 0 and "5 unchanged" in err


# (fault point, whether the new plan is committed when the writer dies there)
CRASH_PHASES = [
    ("index-encoded", False),
    ("index-committed", True),
    ("faiss-temp-written", True),
    ("faiss-renamed", True),
    ("manifest-temp-written", True),
]


@pytest.mark.parametrize(("point", "committed"), CRASH_PHASES, ids=[point for point, _ in CRASH_PHASES])
def test_sigkill_at_each_write_phase(point, committed, index_dir, tmp_path, sample_dir, cache_env):
    """Kill `semplan index` at one named phase of writing a sixth plan; the index shows exactly the
    state that phase promises, and re-running the same command completes the work."""
    directory = tmp_path / "index"
    shutil.copytree(index_dir, directory)
    with Corpus.open(directory) as corpus:
        before = {plan.plan_id: plan.n_clauses for plan in corpus.plans()}
        generation_before = corpus.generation()
    manifest_before = json.loads((directory / "manifest.json").read_text())
    text = (sample_dir / "daqing-2021.txt").read_text(encoding="utf-8").replace("。", ",务求实效。")
    sixth = tmp_path / "daqing-revised.txt"
    sixth.write_text(text, encoding="utf-8")
    whole_sixth = len(segment(text, "daqing-revised"))
    env = {**os.environ, "SEMPLAN_CACHE_DIR": cache_env}
    kill_at_fault_point(
        [sys.executable, "-c", "from semplan.cli import main; main()", "index", str(sixth), "--out", str(directory)],
        point, tmp_path / "fault-reached", env,
    )

    after = dict(before, **{"daqing-revised": whole_sixth}) if committed else before
    manifest = json.loads((directory / "manifest.json").read_text())
    # The manifest is replaced last: at every phase the one on disk is still the previous one.
    assert manifest == manifest_before
    leftovers = sorted(path.name for path in directory.iterdir() if path.name.endswith(".tmp"))
    new_faiss = f"vectors-{generation_before + 1:06d}.faiss"
    if point == "faiss-temp-written":
        assert len(leftovers) == 1 and leftovers[0].startswith(f".{new_faiss}.")
    elif point == "manifest-temp-written":
        assert len(leftovers) == 1 and leftovers[0].startswith(".manifest.json.")
    else:
        assert leftovers == []
    assert (directory / new_faiss).exists() == (point in ("faiss-renamed", "manifest-temp-written"))
    with Corpus.open(directory) as corpus:
        plans = {plan.plan_id: plan.n_clauses for plan in corpus.plans()}
        assert plans == after
        assert corpus.generation() == generation_before + committed
        # A FAISS file the manifest does not name for this generation is never read: it is rebuilt.
        assert len(corpus.clauses()) == sum(after.values()) == corpus.faiss_index().ntotal
        hits = Searcher(corpus).by_clause("daqing-2021#1", k=3)
        assert len(hits) == 3
    with sqlite3.connect(directory / "corpus.sqlite") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    # The next run takes the (kernel-released) lock and completes the work.
    code, _, err = semplan("index", str(sixth), "--out", str(directory))
    assert code == 0, err
    assert ("1 unchanged" if committed else "1 added") in err
    with Corpus.open(directory) as corpus:
        assert {plan.plan_id: plan.n_clauses for plan in corpus.plans()} == dict(before, **{"daqing-revised": whole_sixth})
        assert corpus.manifest["index"]["generation"] == corpus.generation()
        assert corpus.manifest["counts"] == {"plans": 6, "clauses": sum(before.values()) + whole_sixth}
        assert corpus.faiss_index().ntotal == sum(before.values()) + whole_sixth
    names = sorted(path.name for path in directory.iterdir())
    assert not [name for name in names if name.endswith(".tmp")]
    assert [name for name in names if name.endswith(".faiss")] == [corpus.manifest["index"]["file"]]


@pytest.mark.parametrize("clause_id", ["daqing-2021#²", "daqing-2021#99999999999999999999999", "daqing-2021#١"])
def test_odd_clause_ids_are_one_line_errors(index_dir, clause_id):
    """`#²` passed isdigit() and crashed int(); a 23-digit number overflowed SQLite's integer."""
    code, out, err = semplan("similar", "--clause", clause_id, "--index", str(index_dir))
    assert code == 1 and out == ""
    assert err == f"Error: bad clause id {clause_id!r}: expected PLAN#N, e.g. daqing-2021#12\n"


@pytest.mark.parametrize("k", ["2147483648", "1000000000000000000"])
def test_huge_k_returns_every_clause_at_most(index_dir, k):
    """k = 2**31 made FAISS allocate k results per query and abort with std::bad_alloc."""
    code, out, err = semplan("similar", "--clause", "daqing-2021#1", "--index", str(index_dir), "-k", k, "--json")
    assert code == 0, err
    with Corpus.open(index_dir) as corpus:
        others = len(corpus) - corpus.plan("daqing-2021").n_clauses
    assert len(json.loads(out)) == others


FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
HYPERLINK_PLAN = '=HYPERLINK("https:evil.example","open")'
TERMINAL_PLAN = "title\x1b]0;owned\x07"  # an xterm "set window title" sequence


def _plan(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def hostile_index(tmp_path_factory, cache_env):
    """Two small plans: one named like a spreadsheet formula, with clauses that start like formulas."""
    plans = tmp_path_factory.mktemp("hostile")
    _plan(plans, f"{HYPERLINK_PLAN}.txt",
          "一、总体要求\n=SUM(1,2)加强学前教育普惠发展。\n-推进课后服务工作。\n@提升教师待遇水平。\n")
    _plan(plans, "plain.txt", "一、总体要求\n加强学前教育普惠发展。推进课后服务。\n")
    _plan(plans, f"{TERMINAL_PLAN}.txt", "一、总体要求\n加强学前教育\x1b]0;pwned\x07普惠发展。\n")
    directory = tmp_path_factory.mktemp("hostile-index") / "index"
    code, _, err = semplan("index", str(plans), "--out", str(directory))
    assert code == 0 and "3 added" in err, err
    return directory


@pytest.mark.parametrize("args", [["学前教育", "-k", "10"], ["--plan", "plain"], ["--plan", HYPERLINK_PLAN]],
                         ids=["hits", "alignment", "alignment-of-hostile-plan"])
def test_similar_csv_is_safe_to_open_in_a_spreadsheet(hostile_index, args):
    """`similar --csv` wrote a plan id `=HYPERLINK(…)` and clause texts starting with = - @ as they were
    (a spreadsheet runs them as formulas), and no BOM (Excel showed the Chinese as mojibake)."""
    code, out, err = semplan("similar", *args, "--index", str(hostile_index), "--csv")
    assert code == 0, err
    assert out.startswith("\ufeff") and out.count("\ufeff") == 1
    rows = list(csv.reader(io.StringIO(out[1:])))
    cells = [cell for row in rows[1:] for cell in row]
    assert len(rows) > 1 and not [cell for cell in cells if cell.startswith(FORMULA_LEADS) and not is_number(cell)]
    assert [cell for cell in cells if cell.startswith("'" + HYPERLINK_PLAN)]
    assert {"'=SUM(1,2)加强学前教育普惠发展。", "'-推进课后服务工作。", "'@提升教师待遇水平。"} & set(cells)
    score_column = rows[0].index("score")
    assert all(is_number(row[score_column]) for row in rows[1:] if row[score_column])


def test_plan_id_collision_across_runs_is_refused(tmp_path, cache_env):
    """plans/2022/city.txt silently replaced the plan indexed from plans/2021/city.txt."""
    old = _plan(tmp_path / "plans" / "2021", "city.txt", "一、总体要求\n加强学前教育普惠发展。推进课后服务。\n")
    new = _plan(tmp_path / "plans" / "2022", "city.txt", "一、总体要求\n推进义务教育优质均衡。加强师德师风建设。\n")
    directory = tmp_path / "index"
    code, _, err = semplan("index", str(old), "--out", str(directory))
    assert code == 0 and "1 added" in err, err

    code, out, err = semplan("index", str(new), "--out", str(directory))
    assert (code, out) == (1, "")
    assert err == (f"Error: {new}: plan id 'city' is already in the index from {old}; give this file another id "
                   "with --plan-id NEW, or replace that plan with --replace\n")
    with Corpus.open(directory) as corpus:
        assert [(plan.plan_id, plan.path) for plan in corpus.plans()] == [("city", str(old))]
        assert "学前教育" in corpus.source_text("city")

    # The same file again is unchanged; a changed file at the same path is an update.
    code, _, err = semplan("index", str(old), "--out", str(directory))
    assert code == 0 and "1 unchanged" in err, err
    old.write_text("一、总体要求\n加强学前教育普惠发展。推进课后服务。落实双减政策。\n", encoding="utf-8")
    code, _, err = semplan("index", str(old), "--out", str(directory))
    assert code == 0 and "1 replaced" in err, err

    # The two fixes the message names.
    code, _, err = semplan("index", str(new), "--plan-id", "city-2022", "--out", str(directory))
    assert code == 0 and "1 added" in err and "2 plans" in err, err
    code, _, err = semplan("index", str(new), "--replace", "--out", str(directory))
    assert code == 0 and "1 replaced" in err, err
    with Corpus.open(directory) as corpus:
        assert {plan.plan_id: plan.path for plan in corpus.plans()} == {"city": str(new), "city-2022": str(new)}
        assert "师德师风" in corpus.source_text("city")


def test_index_plan_id_option(tmp_path, cache_env):
    """read.py's duplicate-stem error said "give another with --plan-id", an option `index` did not have."""
    first = _plan(tmp_path / "a", "plan.txt", "一、总体要求\n加强学前教育普惠发展。推进课后服务。\n")
    second = _plan(tmp_path / "b", "plan.txt", "一、总体要求\n推进义务教育优质均衡。加强师德师风建设。\n")
    directory = tmp_path / "index"
    code, _, err = semplan("index", str(first), str(second), "--out", str(directory))
    assert code == 1 and err == (f"Error: {second}: plan id 'plan' already used by {first} "
                                 "(give another with --plan-id)\n")
    assert not Corpus.exists(directory) or Corpus.open(directory).manifest["counts"]["plans"] == 0
    code, _, err = semplan("index", str(first), str(second), "--plan-id", "a-2021", "--plan-id", "b-2021",
                           "--out", str(directory))
    assert code == 0 and "2 added" in err, err
    with Corpus.open(directory) as corpus:
        assert {plan.plan_id: plan.path for plan in corpus.plans()} == {"a-2021": str(first), "b-2021": str(second)}
    code, _, err = semplan("index", str(tmp_path / "a"), "--plan-id", "x", "--out", str(directory))
    assert (code, err) == (1, f"Error: {tmp_path / 'a'}: a plan id cannot be given for a directory\n")
    code, _, err = semplan("index", str(first), "--plan-id", "bad#id", "--out", str(directory))
    assert code == 1 and err == (f"Error: {first}: plan id 'bad#id' may not contain '#', tabs, newlines or edge "
                                 "spaces\n")


@pytest.mark.parametrize("args", [["学前教育", "-k", "10"], ["--plan", "plain"]], ids=["hits", "alignment"])
def test_similar_shows_control_characters_escaped(hostile_index, args):
    """A plan's text (or a file name) with an escape sequence reached the terminal as it was: it could
    set the window title, clear the screen or hide text. The human output shows it escaped."""
    code, out, err = semplan("similar", *args, "--index", str(hostile_index))
    assert code == 0, err
    assert "\x1b" not in out and "\x07" not in out
    assert "加强学前教育\\x1b]0;pwned\\x07普惠发展。" in out and "title\\x1b]0;owned\\x07#1" in out


def test_failed_first_run_leaves_no_index(tmp_path, cache_env):
    """`semplan index typo.txt --out new --ann-threshold 1000` fails, but leaves an empty index at new;
    the corrected command is then refused ("--ann-threshold applies only when creating an index"),
    and so is another --model ("was built with …"), for an index nothing was ever built into."""
    plan = _plan(tmp_path / "plans", "city.txt", "一、总体要求\n加强学前教育普惠发展。推进课后服务。\n")
    directory = tmp_path / "index"
    code, _, err = semplan("index", str(tmp_path / "plans" / "typo.txt"), "--out", str(directory),
                           "--ann-threshold", "1000")
    assert code == 1 and err == f"Error: {tmp_path / 'plans' / 'typo.txt'}: no such file\n"
    code, _, err = semplan("index", str(plan), "--out", str(directory), "--ann-threshold", "1000")
    assert code == 0, err


def test_keep_going_run_where_every_input_fails_leaves_no_index(tmp_path):
    """A first `index --keep-going` whose every file failed stored nothing: it must leave no empty
    index behind, which would then refuse the corrected command's --model and --ann-threshold."""
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    directory = tmp_path / "index"
    code, _, err = semplan("index", str(empty), str(tmp_path / "missing.txt"), "--keep-going", "--out", str(directory))
    assert code == 1
    assert err.splitlines()[-1].startswith("Error: 2 input(s) could not be indexed: ")
    assert not directory.exists()
