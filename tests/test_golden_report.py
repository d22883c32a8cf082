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


def test_teacher_ethics_is_not_shared_by_all_through_a_clause_on_students_moral_education():
    """Issue 14, P6: the 师德 priority was tier `all` only through city-2019's 德育 clause (students'
    moral education, a `related` topic, not the same commitment); it is now a weak member."""
    report = json.loads(REPORT.read_text(encoding="utf-8"))["report"]
    texts = {clause["clause_id"]: clause["text"] for clause in report["clauses"]}
    moral = next(cid for cid, text in texts.items() if text.startswith("完善有效德育“五大体系”"))
    priority = next(p for p in report["priorities"] if moral in p["clause_ids"])
    assert "师德" in texts[priority["central_clause_id"]]
    assert priority["tier"] != "all"
    assert "city-2019" in priority["weak_plans"] and "city-2019" not in priority["covering_plans"]
    weak = next(e for e in priority["evidence"] if e["plan"] == "city-2019")
    assert weak["clause_id"] == moral and weak["verdict"] == "related" and not weak["covers"]
    # the weak member is listed after every covering plan, the weakest covering plan first
    covering = [e for e in priority["evidence"] if e["covers"]]
    assert [e["score"] for e in covering] == sorted(e["score"] for e in covering)
    assert priority["evidence"][-1]["plan"] == "city-2019"


if __name__ == "__main__":
    import sys
    import tempfile
    from pathlib import Path

    sample = Path(__file__).resolve().parent.parent / "semplan" / "data" / "sample_plans"
    with tempfile.TemporaryDirectory() as work:
        data = {"cpu_kind": cpu_kind(), "report": golden_report(sample, Path(work))}
    REPORT.write_text(json.dumps(data, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {REPORT} ({len(data['report']['priorities'])} priorities)", file=sys.stderr)
