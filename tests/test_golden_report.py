"""Behaviour pinned across refactors: the sample report from frozen vectors equals the committed one.

tests/data/golden/sample-report.json was written before the restructuring of issue 11 by the code
as it was then (`python tests/test_golden_report.py` regenerates it). On a CPU of the same
SIMD kind the report must be identical: priorities, labels, tiers, every clause's assignment,
scores. On another kind, numba's UMAP may place points a hair apart; then the clause → priority
assignment must still agree almost entirely (adjusted Rand index ≥ 0.9) and the tier counts
stay close, a check of the same pipeline that does not fail for a different float rounding.
"""

from __future__ import annotations

import json

from golden import REPORT, cpu_kind, golden_report
from sklearn.metrics import adjusted_rand_score


def test_sample_report_is_unchanged(sample_dir, tmp_path):
    golden = json.loads(REPORT.read_text(encoding="utf-8"))
    report = golden_report(sample_dir, tmp_path)
    if golden["cpu_kind"] == cpu_kind():
        expected = golden["report"]
        assert report.keys() == expected.keys()
        for key in expected:
            assert report[key] == expected[key], key
        return
    before = {clause["clause_id"]: clause["priority_id"] for clause in golden["report"]["clauses"]}
    after = {clause["clause_id"]: clause["priority_id"] for clause in report["clauses"]}
    assert before.keys() == after.keys()
    ids = sorted(before)
    ari = adjusted_rand_score([str(before[i]) for i in ids], [str(after[i]) for i in ids])
    assert ari >= 0.9, ari
    assert abs(len(report["priorities"]) - len(golden["report"]["priorities"])) <= 5


if __name__ == "__main__":
    import sys
    import tempfile
    from pathlib import Path

    sample = Path(__file__).resolve().parent.parent / "semplan" / "data" / "sample_plans"
    with tempfile.TemporaryDirectory() as work:
        data = {"cpu_kind": cpu_kind(), "report": golden_report(sample, Path(work))}
    REPORT.write_text(json.dumps(data, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {REPORT} ({len(data['report']['priorities'])} priorities)", file=sys.stderr)
