"""Names masked for matching (`semplan.mask`): the evaluation figures with and without it.

Builds two indexes of the five sample plans with the default model, one as `semplan index`
builds it today and one whose clauses' matching text is masked (what `segment` would do with
masking on), and measures both with the evaluation package: dev-gold search and themes (seeds
42–44), the plain-language queries' recall per language, and the priorities held together by a
place name (`place_bound_priorities`). Queries are not masked (search.py is unchanged here).

    python -m benchmarks.masking             # prints a table, writes benchmarks/results/masking-*.json
    python -m benchmarks.masking --token ""  # masked names deleted instead of replaced

Figures: docs/quality.md ("Names masked for matching").
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = (42, 43, 44)


def masked_segmenter(token: str):
    """segment_document, with each plan's matching texts masked (the proposed segment change)."""
    from semplan.mask import mask_plan
    from semplan.segment import segment_document

    def segment(document):
        clauses = segment_document(document)
        masked = mask_plan([clause.match_text for clause in clauses], token=token)
        return [dataclasses.replace(c, match_text=m) for c, m in zip(clauses, masked, strict=True)]

    return segment


def measure(index: Path) -> dict:
    from semplan import evaluation
    from semplan.cluster import find_priorities
    from semplan.store import Corpus

    dev = evaluation.load_gold(ROOT / "tests/data/dev-gold.json")
    plain = evaluation.load_gold(ROOT / "tests/data/queries/plain-queries.json")
    figures: dict = {"themes": [], "place_bound": []}
    with Corpus.open(index) as corpus:
        search = evaluation.evaluate_retrieval(corpus, dev, themes=False)
        figures["dev_search"] = {s.group: round(s.recall[5], 3) for s in search.groups}
        plain_result = evaluation.evaluate_retrieval(corpus, plain, themes=False)
        figures["plain_recall5"] = {s.group: round(s.recall[5], 3) for s in plain_result.groups}
        for seed in SEEDS:
            analysis = find_priorities(corpus.clauses(), corpus.vectors(), seed=seed, map_2d=False)
            themes = evaluation.evaluate_themes(corpus, dev, analysis=analysis)
            figures["themes"].append(
                {"seed": seed, "mean_jaccard": round(themes.mean_jaccard, 3), "tier_agreement": themes.tier_agreement,
                 "priorities": themes.n_priorities, "outliers": round(themes.outlier_share, 3)}
            )
            figures["place_bound"].append(
                [(pid, name, round(share, 2), analysis.priority(pid).size, analysis.priority(pid).label)
                 for pid, name, share in evaluation.place_bound_priorities(analysis)]
            )
    return figures


def main(argv: list[str] | None = None) -> int:
    from semplan.data import sample_plan_paths
    from semplan.encode import Encoder
    from semplan.ingest import index_documents
    from semplan.mask import MASK_TOKEN
    from semplan.read import read_document
    from semplan.store import Corpus

    parser = argparse.ArgumentParser(prog="python -m benchmarks.masking")
    parser.add_argument("--token", default=MASK_TOKEN, help="what a name becomes")
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory() as work, Encoder(progress=False) as encoder:
        for name, segmenter in (("plain", None), ("masked", masked_segmenter(args.token))):
            index = Path(work) / name
            with Corpus.create(index, encoder.identity()) as corpus:
                documents = [read_document(path) for path in sample_plan_paths()]
                index_documents(corpus, documents, encoder=encoder, segmenter=segmenter)
            results[name] = measure(index)
            print(name, json.dumps(results[name], ensure_ascii=False), flush=True)
    out = ROOT / "benchmarks" / "results" / f"masking-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"token": args.token, **results}, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
