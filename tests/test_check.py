"""A damaged index on the real CLI: the sample plans, the real model, real FAISS and SQLite.

Each case copies one index built at the start of the module, damages the copy the way a hostile
tester did, and checks what `semplan similar`, `semplan index` and `semplan check` say and do.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sqlite3
from pathlib import Path

import pytest
from cli_runner import semplan
from test_integrity import corrupt_table, faiss_path, scramble

from semplan.store import MANIFEST


@pytest.fixture(scope="module")
def built(tmp_path_factory, cache_env, sample_dir) -> Path:
    directory = tmp_path_factory.mktemp("check") / "index"
    code, _, err = semplan("index", str(sample_dir), "--out", str(directory))
    assert code == 0, err
    return directory


@pytest.fixture
def index(built, tmp_path) -> Path:
    """A fresh copy of the sample index, to damage."""
    return Path(shutil.copytree(built, tmp_path / "index"))


QUERY = ("similar", "课后服务", "-k", "5", "--json")


def sample_clause_count() -> int:
    from semplan.data import sample_plan_paths
    from semplan.read import read_document
    from semplan.segment import segment_document

    return sum(len(segment_document(read_document(path))) for path in sample_plan_paths())


def similar(directory: Path) -> tuple[int, list, str]:
    code, out, err = semplan(*QUERY, "--index", str(directory))
    return code, (json.loads(out) if code == 0 else out), err


def test_a_clean_index_checks_clean(index):
    code, out, err = semplan("check", str(index))
    assert (code, out, err) == (0, "", f"{index}: ok (5 plans, {sample_clause_count()} clauses)\n")
    code, out, _ = semplan("check", str(index), "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["findings"] == [] and report["counts"] == {"plans": 5, "clauses": sample_clause_count()}


def test_a_scrambled_faiss_file_never_answers(index, built):
    """64 KB of random bytes in the FAISS file: `similar` answered with scores of 3.5e37 from the wrong
    plans, exit 0, and an unchanged re-index left the file as it was."""
    _, expected, _ = similar(built)
    scramble(faiss_path(index), 400_000, 65536)
    damaged = index.parent / "damaged"
    shutil.copytree(index, damaged)
    code, hits, err = similar(index)
    assert code == 0 and hits == expected and all(hit["score"] <= 1.0 for hit in hits)
    assert err == f"semplan: the FAISS file of {index} did not match its checksum; rebuilt from the database\n"
    code, out, err = semplan("check", str(damaged))
    assert code == 1 and out == f"faiss-file: {faiss_path(damaged)} did not match its checksum\n"
    assert err == f"Error: {damaged}: 1 problem; 1 fixed by: semplan check {damaged} --repair\n"
    # Saved by that reader: the next one loads the file, and the index checks clean.
    assert similar(index) == (0, expected, "")
    assert semplan("check", str(index))[0] == 0


def test_an_unchanged_reindex_repairs_the_faiss_file(index, sample_dir):
    scramble(faiss_path(index), 400_000, 65536)
    code, _, err = semplan("index", str(sample_dir), "--out", str(index))
    assert code == 0 and "5 unchanged" in err and "did not match its checksum; rebuilt from the database" in err
    assert semplan("check", str(index))[0] == 0


def test_a_deleted_manifest_is_rebuilt_by_check_repair(index, built, sample_dir):
    """A deleted manifest.json made the intact database unusable and `index` refused the folder."""
    _, expected, _ = similar(built)
    (index / MANIFEST).unlink()
    hint = f"run: semplan check {index} --repair"
    assert similar(index) == (1, "", f"Error: {index / MANIFEST} is missing; {hint}\n")
    code, _, err = semplan("index", str(sample_dir), "--out", str(index))
    assert (code, err) == (1, f"Error: {index} holds an index database but no {MANIFEST}; {hint}\n")
    code, out, _ = semplan("check", str(index))
    assert code == 1 and out == f"manifest-missing: {index / MANIFEST} is missing\n"
    code, out, err = semplan("check", str(index), "--repair")
    assert code == 0, out + err
    assert out.splitlines() == [f"repaired: rebuilt {MANIFEST} from the database", "repaired: rebuilt the FAISS file from the database"]
    assert similar(index) == (0, expected, "")
    assert semplan("index", str(sample_dir), "--out", str(index))[0] == 0


@pytest.mark.parametrize(("content", "problem"), [
    ("[]", "a JSON array where an object belongs"),
    ('{"format_version": 1}', "model is missing"),
    ("{", "not JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
])
def test_a_manifest_of_the_wrong_shape_is_one_line(index, built, content, problem):
    _, expected, _ = similar(built)
    (index / MANIFEST).write_text(content, encoding="utf-8")
    message = f"Error: {index / MANIFEST} is damaged ({problem}); run: semplan check {index} --repair\n"
    assert similar(index) == (1, "", message)
    assert semplan("check", str(index), "--repair")[0] == 0
    assert similar(index) == (0, expected, "")


def test_dims_abc_is_one_line(index):
    manifest = json.loads((index / MANIFEST).read_text(encoding="utf-8"))
    (index / MANIFEST).write_text(json.dumps({**manifest, "dims": "abc"}), encoding="utf-8")
    code, _, err = similar(index)
    assert code == 1 and err == (f"Error: {index / MANIFEST} is damaged (dims is 'abc', not a positive integer); "
                                 f"run: semplan check {index} --repair\n")


def test_a_newer_format_says_upgrade(index):
    manifest = json.loads((index / MANIFEST).read_text(encoding="utf-8"))
    (index / MANIFEST).write_text(json.dumps({**manifest, "format_version": 7}), encoding="utf-8")
    message = f"Error: {index} was written by a newer semplan (index format 7; this one reads format 1): upgrade semplan\n"
    assert similar(index) == (1, "", message)
    code, out, _ = semplan("check", str(index), "--repair")  # never overwritten with an older format
    assert code == 1 and out.startswith("manifest-newer: ") and json.loads((index / MANIFEST).read_text())["format_version"] == 7


def test_a_corrupted_database_page(index, built, sample_dir, tmp_path):
    """`database disk image is malformed` was a traceback from `similar` and `index`."""
    corrupt_table(index / "corpus.sqlite", "clauses")
    expected = (f"Error: {index / 'corpus.sqlite'} is damaged (database disk image is malformed); "
                f"run: semplan check {index}\n")
    for args in (QUERY, ("similar", "--plan", "daqing-2021")):
        assert semplan(*args, "--index", str(index)) == (1, "", expected)
    assert semplan("index", str(sample_dir / "city-2019.txt"), "--out", str(index)) == (1, "", expected)
    code, out, err = semplan("check", str(index), "--repair")
    assert code == 1 and err.startswith("Error: ") and len(out.splitlines()) == 1
    finding, _, command = out.partition("; re-create the index from its plan files: ")
    assert finding.startswith(f"database-damaged: {index / 'corpus.sqlite'} is damaged (")
    # The command it gives works: the index is re-created from the plan files the database records.
    words = shlex.split(command)
    assert words[:2] == ["semplan", "index"] and words[-2:] == ["--out", f"{index}.new"]
    assert sorted(words[2:-2]) == sorted(str(path) for path in sample_dir.glob("*.txt"))
    code, _, err = semplan(*words[1:])
    assert code == 0, err
    _, expected_hits, _ = similar(built)
    assert similar(Path(f"{index}.new")) == (0, expected_hits, "")


def test_leftovers_of_interrupted_writes(index):
    (index / ".vectors-000002.faiss.x1y2.tmp").write_bytes(b"\0" * 100)
    shutil.copy(faiss_path(index), index / "vectors-000000.faiss")
    code, out, _ = semplan("check", str(index), "--json")
    report = json.loads(out)
    assert code == 1 and [finding["code"] for finding in report["findings"]] == ["leftover", "leftover"]
    assert all(finding["repairable"] for finding in report["findings"])
    code, out, _ = semplan("check", str(index), "--repair", "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and len(report["repaired"]) == 2


def test_an_index_of_an_older_semplan_is_upgraded_once(index, built):
    """Schema 2 without settings, a manifest without checksums: migrated and rebuilt on first use, silently
    correct, and clean afterwards."""
    _, expected, _ = similar(built)
    with sqlite3.connect(index / "corpus.sqlite") as conn:
        conn.execute("DELETE FROM meta WHERE key != 'generation'")
        conn.execute("PRAGMA user_version = 2")
    manifest = json.loads((index / MANIFEST).read_text(encoding="utf-8"))
    for key in ("sha256", "bytes", "ntotal", "vectors_sha256"):
        del manifest["index"][key]
    (index / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    code, hits, err = similar(index)
    assert code == 0 and hits == expected and "has no checksum (written by an older semplan)" in err
    assert semplan("check", str(index)) == (0, "", f"{index}: ok (5 plans, {sample_clause_count()} clauses)\n")
