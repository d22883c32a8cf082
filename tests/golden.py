"""The frozen-vector report used by the behaviour-pinning test (tests/test_golden_report.py).

The sample plans are indexed and reported through the public API with the real segmenter, store,
clusterer and report writers; only the encoder is replaced by vectors the default model gave
once (tests/data/golden/sample-vectors.npy, float16, keyed by matching text), so the golden
result does not move with the CPU's int8 kernels.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np

GOLDEN_DIR = Path(__file__).resolve().parent / "data" / "golden"
VECTORS = GOLDEN_DIR / "sample-vectors.npy"
TEXTS = GOLDEN_DIR / "sample-texts.json"
REPORT = GOLDEN_DIR / "sample-report.json"
# Where the report depends on the machine or the run, not on the analysis.
UNSTABLE_KEYS = ("index", "sources", "model_identity", "generated")


class FrozenBackend:
    """Serves the committed vectors for the sample clauses' matching texts (prompt stripped)."""

    name = "frozen"
    dims = 384

    def __init__(self) -> None:
        texts = json.loads(TEXTS.read_text(encoding="utf-8"))
        vectors = np.load(VECTORS).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        self.by_text = dict(zip(texts, vectors, strict=True))

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.by_text[text.removeprefix("query: ")] for text in texts])


def frozen_encoder():
    from semplan.encode import Encoder
    from semplan.models import ModelSpec

    spec = ModelSpec(
        name="multilingual-e5-small-frozen", kind="sentence-transformers", location="", revision="golden",
        dims=384, prompts={"query": "query: ", "passage": "passage: ", "clause": "query: "},
    )
    return Encoder(spec, backend=FrozenBackend(), cache_path=None, progress=False)


def golden_report(sample_dir: Path, work: Path) -> dict:
    """report.json of the sample plans with frozen vectors, unstable keys removed."""
    from semplan.ingest import index_paths
    from semplan.report import report_corpus
    from semplan.store import Corpus

    encoder = frozen_encoder()
    with Corpus.create(work / "index", encoder.identity()) as corpus:
        index_paths(corpus, [sample_dir], encoder=encoder)
        # The frozen vectors are multilingual-e5-small's: its calibrated verdict thresholds apply.
        report_corpus(corpus, work / "report", seed=42, verdicts=e5_verdicts())
    data = json.loads((work / "report" / "report.json").read_text(encoding="utf-8"))
    for key in UNSTABLE_KEYS:
        data.pop(key, None)
    return data


def e5_verdicts():
    from semplan.models import resolve_model
    from semplan.verdict import calibration_for

    spec = resolve_model("multilingual-e5-small")
    return calibration_for({"model": spec.name, "revision": spec.revision})


def cpu_kind() -> str:
    """The SIMD level numba and FAISS compile for: results of the same float code can differ across them."""
    flags = ""
    if platform.system() == "Linux":
        flags = Path("/proc/cpuinfo").read_text()
    for kind in ("avx512_vnni", "avx512f", "avx2"):
        if f" {kind}" in flags:
            return kind
    return platform.machine()
