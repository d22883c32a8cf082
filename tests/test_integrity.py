"""A damaged, stale or half-written index is detected and rebuilt from the database, never answered from.

Storage logic runs on the deterministic fake encoder of tests/test_store.py; the end-to-end cases
(a damaged FAISS file, a corrupted database page, `semplan check`) run the real CLI on the sample
plans with the real model.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import struct
from pathlib import Path

import numpy as np
import pytest
from test_store import PLANS, add, document, fake_encoder

from semplan.errors import LockBusy, StoreError
from semplan.store import MANIFEST, Corpus, check_index, repair_index


@pytest.fixture
def encoder():
    return fake_encoder()


@pytest.fixture
def index(tmp_path, encoder) -> Path:
    """A closed three-plan index on the fake encoder."""
    directory = tmp_path / "index"
    with Corpus.create(directory, encoder.identity()) as corpus:
        add(corpus, encoder, (document(p, t) for p, t in PLANS.items()))
    return directory


def manifest_of(directory: Path) -> dict:
    return json.loads((directory / MANIFEST).read_text(encoding="utf-8"))


def faiss_path(directory: Path) -> Path:
    return directory / manifest_of(directory)["index"]["file"]


def scramble(path: Path, offset: int, length: int, seed: int = 0) -> None:
    """Overwrite `length` bytes at `offset` with random ones: same size, same name."""
    data = bytearray(path.read_bytes())
    offset = min(offset, max(0, len(data) - length))
    data[offset : offset + length] = np.random.default_rng(seed).bytes(min(length, len(data)))
    path.write_bytes(bytes(data))


def vectors_digest_from_sqlite(directory: Path) -> str:
    """The manifest's `vectors_sha256`, recomputed by its definition: row id (int64 LE) + vector blob, in id order."""
    digest = hashlib.sha256()
    with sqlite3.connect(directory / "corpus.sqlite") as conn:
        for row_id, blob in conn.execute("SELECT id, vector FROM clauses ORDER BY id"):
            digest.update(struct.pack("<q", row_id) + blob)
    return digest.hexdigest()


def search_all(directory: Path) -> list[list[tuple[int, float]]]:
    with Corpus.open(directory) as corpus:
        return corpus.search_vectors(corpus.vectors(), k=4)


# ---------------------------------------------------------------- checksums in the manifest


def test_manifest_records_checksums_and_counts(index):
    info = manifest_of(index)["index"]
    data = faiss_path(index).read_bytes()
    assert info["sha256"] == hashlib.sha256(data).hexdigest() and info["bytes"] == len(data)
    assert info["ntotal"] == 8 == manifest_of(index)["counts"]["clauses"]
    assert info["vectors_sha256"] == vectors_digest_from_sqlite(index)


def test_settings_live_in_the_database(index, encoder):
    with sqlite3.connect(index / "corpus.sqlite") as conn:
        meta = dict(conn.execute("SELECT key, value FROM meta"))
    assert json.loads(meta["model"]) == manifest_of(index)["model"] == json.loads(json.dumps(encoder.identity()))
    assert int(meta["dims"]) == 32 and int(meta["ann_threshold"]) == 200_000


def test_an_index_from_before_the_settings_migration_gets_them_from_its_manifest(index):
    with sqlite3.connect(index / "corpus.sqlite") as conn:
        conn.execute("DELETE FROM meta WHERE key != 'generation'")
        conn.execute("PRAGMA user_version = 2")
    with Corpus.open(index):
        pass
    with sqlite3.connect(index / "corpus.sqlite") as conn:
        meta = dict(conn.execute("SELECT key, value FROM meta"))
    assert json.loads(meta["model"]) == manifest_of(index)["model"] and int(meta["ann_threshold"]) == 200_000


# ---------------------------------------------------------------- a damaged FAISS file


@pytest.mark.parametrize("damage", ["scrambled", "truncated", "deleted", "no checksum"])
def test_a_damaged_faiss_file_is_rebuilt_from_the_database_and_saved(index, damage, caplog):
    """64 KB of random bytes passed the only check there was (the vector count) and answered with
    scores of 3.5e37 from the wrong plans; a truncated or deleted file was rebuilt on every read."""
    expected = search_all(index)
    path = faiss_path(index)
    if damage == "scrambled":  # the vectors' bytes, FAISS's own header left whole
        scramble(path, 200, 512)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "deleted":
        path.unlink()
    else:  # a manifest written before checksums: the file cannot be trusted, so it is rebuilt once
        manifest = manifest_of(index)
        del manifest["index"]["sha256"]
        (index / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="semplan"):
        assert search_all(index) == expected
    assert any("rebuilt from the database" in record.getMessage() and str(index) in record.getMessage()
               for record in caplog.records)
    # Saved: the next reader loads the file and rebuilds nothing.
    info = manifest_of(index)["index"]
    assert hashlib.sha256(faiss_path(index).read_bytes()).hexdigest() == info["sha256"]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="semplan"):
        assert search_all(index) == expected
    assert caplog.records == []
    assert check_index(index).findings == []


def test_the_warning_names_what_was_wrong(index, caplog):
    scramble(faiss_path(index), 200, 512)
    with caplog.at_level(logging.WARNING, logger="semplan"):
        search_all(index)
    assert [record.getMessage() for record in caplog.records] == [
        f"the FAISS file of {index} did not match its checksum; rebuilt from the database"
    ]


def test_while_a_writer_holds_the_lock_the_rebuilt_index_stays_in_memory(index, encoder):
    expected = search_all(index)
    path = faiss_path(index)
    scramble(path, 200, 512)
    damaged = path.read_bytes()
    with Corpus.open(index) as writer, writer.writing():
        assert search_all(index) == expected
        assert path.read_bytes() == damaged  # not ours to write while another holds the lock


def test_an_unchanged_reindex_repairs_a_damaged_faiss_file(index, encoder):
    scramble(faiss_path(index), 200, 512)
    with Corpus.open(index) as corpus:
        report = add(corpus, encoder, (document(p, t) for p, t in PLANS.items()))
    assert report.unchanged == ["alpha", "beta", "gamma"]
    assert hashlib.sha256(faiss_path(index).read_bytes()).hexdigest() == manifest_of(index)["index"]["sha256"]


def test_a_damaged_ivf_file_is_rebuilt_too(tmp_path, encoder):
    directory = tmp_path / "index"
    with Corpus.create(directory, encoder.identity(), ann_threshold=4) as corpus:
        add(corpus, encoder, (document(p, t) for p, t in PLANS.items()))
    assert manifest_of(directory)["index"]["kind"] == "ivf"
    expected = search_all(directory)
    scramble(faiss_path(directory), 100, 2000)
    assert search_all(directory) == expected
    assert check_index(directory).findings == []


# ---------------------------------------------------------------- a damaged manifest


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda m: [], "a JSON array where an object belongs"),
        (lambda m: {k: v for k, v in m.items() if k != "model"}, "model is missing"),
        (lambda m: {**m, "dims": "abc"}, "dims is 'abc', not a positive integer"),
        (lambda m: {**m, "dims": 33}, "dims is 33 but the model's are 32"),
        (lambda m: {**m, "index": {**m["index"], "file": "../../etc/passwd"}},
         "index.file is '../../etc/passwd', not a vectors-NNNNNN.faiss name"),
        (lambda m: {**m, "index": {**m["index"], "kind": "hnsw"}}, "index.kind is 'hnsw', not flat or ivf"),
        (lambda m: {**m, "counts": {"plans": -1, "clauses": 8}}, "counts.plans is -1, not an integer ≥ 0"),
        (lambda m: {**m, "format_version": "1"}, "format_version is '1', not 1"),
    ],
)
def test_a_manifest_of_the_wrong_shape_is_a_one_line_error(index, edit, problem):
    (index / MANIFEST).write_text(json.dumps(edit(manifest_of(index))), encoding="utf-8")
    with pytest.raises(StoreError) as raised:
        Corpus.open(index)
    assert str(raised.value) == f"{index / MANIFEST} is damaged ({problem}); run: semplan check {index} --repair"


def test_a_manifest_that_is_not_json(index):
    (index / MANIFEST).write_text('{"format_version": 1,', encoding="utf-8")
    with pytest.raises(StoreError, match=r"manifest.json is damaged \(not JSON: .*\); run: semplan check .* --repair$"):
        Corpus.open(index)


def test_a_newer_format_says_to_upgrade(index):
    (index / MANIFEST).write_text(json.dumps({**manifest_of(index), "format_version": 2}), encoding="utf-8")
    with pytest.raises(StoreError) as raised:
        Corpus.open(index)
    assert str(raised.value) == f"{index} was written by a newer semplan (index format 2; this one reads format 1): upgrade semplan"


def test_a_lost_manifest_is_rebuilt_from_the_database(index, encoder):
    """A deleted manifest.json made an intact database unusable, and `index` refused the non-empty folder."""
    expected = search_all(index)
    before = manifest_of(index)
    (index / MANIFEST).unlink()
    hint = f"run: semplan check {index} --repair"
    with pytest.raises(StoreError, match=f"^{index / MANIFEST} is missing; {hint}$"):
        Corpus.open(index)
    with pytest.raises(StoreError, match=f"^{index} holds an index database but no {MANIFEST}; {hint}$"):
        Corpus.create(index, encoder.identity())
    assert [finding.code for finding in check_index(index).findings] == ["manifest-missing"]
    report = repair_index(index)
    assert report.ok and report.findings == [] and report.repaired
    after = manifest_of(index)
    assert after["model"] == before["model"] and after["counts"] == before["counts"] and after["dims"] == 32
    assert search_all(index) == expected


def test_manifest_and_database_naming_different_models(index):
    manifest = manifest_of(index)
    manifest["model"] = {**manifest["model"], "revision": "rev-2"}
    (index / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(StoreError, match=r"disagree on the model \(fake-model@rev-2 in manifest.json, "
                                         r"fake-model@rev-1 in corpus.sqlite\); run: semplan check .* --repair$"):
        Corpus.open(index)
    assert [finding.code for finding in check_index(index).findings] == ["model-mismatch"]
    assert repair_index(index).ok and manifest_of(index)["model"]["revision"] == "rev-1"


# ---------------------------------------------------------------- a damaged database


def corrupt_table(database: Path, table: str) -> None:
    """Overwrite the root page of `table` (found with SQLite's dbstat) with garbage."""
    with sqlite3.connect(database) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        page = conn.execute("SELECT pageno FROM dbstat WHERE name = ? AND path = '/'", (table,)).fetchone()[0]
    conn.close()
    with open(database, "r+b") as handle:
        handle.seek((page - 1) * page_size + 100 * (page == 1))
        handle.write(bytes([0xDE, 0xAD, 0xBE, 0xEF]) * (page_size // 8))


def test_a_corrupted_database_page_is_a_store_error_at_every_step(index, encoder):
    corrupt_table(index / "corpus.sqlite", "clauses")
    expected = f"{index / 'corpus.sqlite'} is damaged (database disk image is malformed); run: semplan check {index}"
    with Corpus.open(index) as corpus:
        for step in (lambda c: c.clauses(), lambda c: c.vectors(["alpha#1"]),
                     lambda c: c.clauses_by_row_id(row for row, _ in c.search_vectors(np.ones(32) / 32**0.5)[0]),
                     lambda c: add(c, encoder, [document("delta", "建设智慧校园。")])):
            with pytest.raises(StoreError) as raised:
                step(corpus)
            assert str(raised.value) == expected


def test_a_database_that_is_not_one(index):
    (index / "corpus.sqlite").write_bytes(b"not a database at all" * 300)
    with pytest.raises(StoreError, match=r"corpus.sqlite is damaged \(file is not a database\); run: semplan check "):
        Corpus.open(index)


def test_an_empty_database_file_is_not_taken_for_an_empty_index(index):
    (index / "corpus.sqlite").write_bytes(b"")
    with pytest.raises(StoreError, match=r"corpus.sqlite holds no semplan index"):
        Corpus.open(index)


# ---------------------------------------------------------------- disk full


def disk_full(monkeypatch, module) -> None:
    """Every atomic replacement made through `module` writes to /dev/full: a real ENOSPC from the kernel."""
    real = module.replace_atomically

    def to_dev_full(path, write, **options):
        return real(path, lambda temporary: write(Path("/dev/full")), **options)

    monkeypatch.setattr(module, "replace_atomically", to_dev_full)


def state(directory: Path) -> dict:
    names = sorted(path.name for path in directory.iterdir() if not path.name.startswith("corpus.sqlite"))
    with Corpus.open(directory) as corpus:
        plans = {plan.plan_id: plan.n_clauses for plan in corpus.plans()}
        generation = corpus.generation()
    return {"files": names, "manifest": (directory / MANIFEST).read_bytes(), "plans": plans, "generation": generation,
            "faiss": faiss_path(directory).read_bytes()}


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_disk_full_writing_the_faiss_file(index, encoder, monkeypatch):
    import semplan.store.faiss_index

    before = state(index)
    disk_full(monkeypatch, semplan.store.faiss_index)
    with Corpus.open(index) as corpus:
        with pytest.raises(StoreError) as raised:
            add(corpus, encoder, [document("delta", "建设智慧校园。")])
    message = str(raised.value)
    assert "\n" not in message and message.startswith(f"disk full while writing {index}/vectors-000002.faiss")
    assert f"run: semplan check {index} --repair" in message
    monkeypatch.undo()
    after = state(index)
    # The plans were committed before the FAISS file is written; the files are the previous ones.
    assert after["plans"] == {**before["plans"], "delta": 1} and after["generation"] == before["generation"] + 1
    assert {key: after[key] for key in ("files", "manifest", "faiss")} == {
        key: before[key] for key in ("files", "manifest", "faiss")}
    assert [finding.code for finding in check_index(index).findings] == ["faiss-stale"]
    assert repair_index(index).ok


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_disk_full_writing_the_manifest(index, encoder, monkeypatch):
    import semplan._fs

    before = state(index)
    disk_full(monkeypatch, semplan._fs)
    with Corpus.open(index) as corpus:
        with pytest.raises(StoreError, match=f"^disk full while writing {index / MANIFEST} "):
            corpus.remove("gamma")
    monkeypatch.undo()
    after = state(index)
    assert after["files"] == before["files"] and after["manifest"] == before["manifest"]  # the new FAISS file is gone
    assert "gamma" not in after["plans"]
    assert repair_index(index).ok and "gamma" not in json.dumps(search_all(index))


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_disk_full_when_a_reader_saves_a_rebuilt_file(index, monkeypatch, caplog):
    import semplan.store.faiss_index

    expected = search_all(index)
    scramble(faiss_path(index), 200, 512)
    damaged = faiss_path(index).read_bytes()
    disk_full(monkeypatch, semplan.store.faiss_index)
    with caplog.at_level(logging.WARNING, logger="semplan"):
        assert search_all(index) == expected
    [message] = [record.getMessage() for record in caplog.records]
    assert message.startswith(f"the FAISS file of {index} did not match its checksum; rebuilt from the database "
                              f"(kept in memory: disk full while writing {index}/vectors-000001.faiss")
    assert faiss_path(index).read_bytes() == damaged and not [p for p in index.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_disk_full_while_creating_an_index(tmp_path, encoder, monkeypatch):
    import semplan._fs

    disk_full(monkeypatch, semplan._fs)
    with pytest.raises(StoreError, match=f"^disk full while creating {tmp_path / 'index'} \\(No space left on device\\)$"):
        Corpus.create(tmp_path / "index", encoder.identity())
    assert list(tmp_path.iterdir()) == []


def test_disk_full_at_the_sqlite_commit_leaves_the_index_as_it_was(index, encoder, monkeypatch):
    """The traceback ended in `cannot rollback - no transaction is active`, hiding the real cause:
    SQLite rolls a transaction back itself when it runs out of space."""
    before = state(index)
    with Corpus.open(index) as corpus:
        pages = corpus._conn.execute("PRAGMA page_count").fetchone()[0]
        corpus._conn.execute(f"PRAGMA max_page_count = {pages}")
        big = "。".join(f"第{i}条新增内容,建设智慧校园" for i in range(2000)) + "。"
        with pytest.raises(StoreError) as raised:
            add(corpus, encoder, [document("delta", big)])
        assert not corpus._conn.in_transaction
    message = str(raised.value)
    assert message == f"disk full while writing {index / 'corpus.sqlite'} (database or disk is full); the index is as it was"
    assert state(index) == before


def test_disk_full_on_an_os_error_is_named(index, encoder, monkeypatch):
    """An ENOSPC raised by Python's own write (not FAISS's) is the same one-line error."""
    import semplan.store.faiss_index

    real = semplan.store.faiss_index.replace_atomically

    def full(path, write, **options):
        def write_then_fail(temporary):
            write(temporary)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        return real(path, write_then_fail, **options)

    monkeypatch.setattr(semplan.store.faiss_index, "replace_atomically", full)
    with Corpus.open(index) as corpus, pytest.raises(StoreError, match="^disk full while writing .*vectors-000002.faiss"):
        corpus.remove("gamma")
    assert not [path for path in index.iterdir() if path.name.endswith(".tmp")]


# ---------------------------------------------------------------- check and repair


def codes(directory: Path) -> list[str]:
    return [finding.code for finding in check_index(directory).findings]


def test_a_clean_index_checks_clean(index):
    report = check_index(index)
    assert report.ok and report.findings == [] and report.counts == {"plans": 3, "clauses": 8}


def test_leftovers_are_found_and_removed(index):
    import subprocess
    import sys

    (index / ".vectors-000009.faiss.abc.tmp").write_bytes(b"half")
    shutil.copy(faiss_path(index), index / "vectors-000000.faiss")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    staging = index.parent / f".index.{int(dead.stdout)}.x1.creating"
    staging.mkdir()
    assert codes(index) == ["leftover", "leftover", "leftover"]
    report = repair_index(index)
    assert report.ok and len(report.repaired) == 3
    assert not staging.exists() and sorted(p.name for p in index.iterdir() if not p.name.startswith("corpus.sqlite")) == [
        ".lock", MANIFEST, manifest_of(index)["index"]["file"]]


def test_check_finds_each_kind_of_damage(index):
    scramble(faiss_path(index), 200, 4096)
    assert codes(index) == ["faiss-file"]
    repair_index(index)
    with sqlite3.connect(index / "corpus.sqlite") as conn:
        conn.execute("UPDATE plans SET n_clauses = 5 WHERE plan_id = 'gamma'")
    assert codes(index) == ["clause-counts", "counts-mismatch"]
    with sqlite3.connect(index / "corpus.sqlite") as conn:
        conn.execute("UPDATE plans SET n_clauses = 2 WHERE plan_id = 'gamma'")
        conn.execute("UPDATE clauses SET vector = ? WHERE plan_id = 'beta' AND n = 2", (np.full(32, 7, np.float32).tobytes(),))
    found = check_index(index).findings
    assert [finding.code for finding in found] == ["faiss-content", "vectors-hash", "vectors-damaged"]
    assert "beta#2" in found[2].message and not found[2].repairable


def test_check_refuses_while_a_writer_works(index):
    with Corpus.open(index) as corpus, corpus.writing():
        with pytest.raises(LockBusy):
            check_index(index)
