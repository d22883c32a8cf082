"""Shared fixtures. Integration tests use the real default model, loaded once per session."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# Never reach a model hub from tests: models come from registry wheels under models/.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DIR = REPO / "semplan" / "data" / "sample_plans"
DEV_GOLD = REPO / "tests" / "data" / "dev-gold.json"


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLE_DIR


@pytest.fixture(scope="session")
def sample_paths() -> list[Path]:
    return sorted(SAMPLE_DIR.glob("*.txt"))


@pytest.fixture(scope="session")
def dev_gold() -> dict:
    return json.loads(DEV_GOLD.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def sample_documents(sample_paths):
    from semplan.read import read_document

    return [read_document(path) for path in sample_paths]


@pytest.fixture(scope="session")
def sample_clauses(sample_documents):
    from semplan.segment import segment

    return [clause for document in sample_documents for clause in segment(document.text, document.plan_id)]


@pytest.fixture(scope="session")
def e5_encoder(tmp_path_factory):
    """The default model on its default backend, with a cache private to this test session."""
    from semplan.encode import Encoder

    return Encoder(cache_path=tmp_path_factory.mktemp("cache") / "embeddings.sqlite", progress=False)


@pytest.fixture(scope="module")
def cache_env(e5_encoder):
    """Share the session's embedding cache with CLI runs, so they do not encode the sample again."""
    before = os.environ.get("SEMPLAN_CACHE_DIR")
    os.environ["SEMPLAN_CACHE_DIR"] = str(Path(e5_encoder.cache_path).parent)
    yield os.environ["SEMPLAN_CACHE_DIR"]
    if before is None:
        del os.environ["SEMPLAN_CACHE_DIR"]
    else:
        os.environ["SEMPLAN_CACHE_DIR"] = before


@pytest.fixture(scope="session")
def sample_index_dir(tmp_path_factory, e5_encoder, sample_dir) -> Path:
    """The sample plans indexed with the real model, for tests that only read an index."""
    from semplan.ingest import index_paths
    from semplan.store import Corpus

    directory = tmp_path_factory.mktemp("sample") / "index"
    with Corpus.create(directory, e5_encoder.identity()) as corpus:
        index_paths(corpus, [sample_dir], encoder=e5_encoder)
    return directory


class RecordingProgress:
    """A semplan._progress.Progress that keeps every call: ("stage", name, total, unit), ("advance", n), ("detail", text)."""

    def __init__(self):
        self.events = []

    def stage(self, name, total=None, unit=""):
        self.events.append(("stage", name, total, unit))

    def advance(self, n=1):
        self.events.append(("advance", n))

    def detail(self, text):
        self.events.append(("detail", text))

    def stages(self):
        return [event[1:] for event in self.events if event[0] == "stage"]


@pytest.fixture
def recording_progress() -> RecordingProgress:
    return RecordingProgress()
