"""`semplan index` and `semplan similar` end to end: real model, real FAISS and SQLite, real CLI."""

from __future__ import annotations

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

from semplan.cli import cli
from semplan.search import Searcher
from semplan.segment import segment
from semplan.store import Corpus


@pytest.fixture(scope="module")
def cache_env(e5_encoder):
    """Share the session's embedding cache, so the CLI does not encode the corpus again."""
    before = os.environ.get("SEMPLAN_CACHE_DIR")
    os.environ["SEMPLAN_CACHE_DIR"] = str(Path(e5_encoder.cache_path).parent)
    yield os.environ["SEMPLAN_CACHE_DIR"]
    if before is None:
        del os.environ["SEMPLAN_CACHE_DIR"]
    else:
        os.environ["SEMPLAN_CACHE_DIR"] = before


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
    assert rows[0] == "rank,score,plan,clause_id,kind,section,item,path,text,spans"
    assert len(rows) == 5 and rows[1].split(",")[2] == "daqing-2021"
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


def test_usage_errors(index_dir, sample_dir):
    code, _, err = semplan("similar", "text", "--clause", "a#1", "--index", str(index_dir))
    assert code == 2 and "give exactly one of TEXT, --clause PLAN#N or --plan PLAN" in err
    code, _, err = semplan("index", "--out", str(index_dir))
    assert code == 2 and "give plan files or directories to index, or --remove PLAN" in err
    code, _, err = semplan("index", str(sample_dir), "--out", str(index_dir), "--ann-threshold", "5")
    assert code == 2 and err.endswith("Error: --ann-threshold applies only when creating an index\n")


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
