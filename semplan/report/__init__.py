"""Report writers: report.html, report.md, priorities.csv, clauses.csv, report.json, report.xlsx.

One module per output, each reading the one view model (`view.report_view`); `write_report`
writes them all into one directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from semplan._progress import NO_PROGRESS, Progress
from semplan.errors import InvalidArgument

if TYPE_CHECKING:
    from semplan.cluster import PriorityAnalysis

REPORT_FILES = ("report.html", "report.md", "priorities.csv", "clauses.csv", "report.json", "report.xlsx")


def write_report(
    analysis: PriorityAnalysis,
    out_dir: str | os.PathLike,
    *,
    sources: Mapping[str, str] | None = None,
    source_paths: Mapping[str, str | None] | None = None,
    title: str = "semplan report",
    metadata: Mapping[str, Any] | None = None,
    plan_metadata: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write every report file into `out_dir` (created if needed); returns name → path.

    `sources` (plan → decoded text) lets report.html link each clause to its position in
    an embedded source view; `source_paths` (plan → file) is shown beside it;
    `metadata` (model, index, …) goes into report.json and the page header; `plan_metadata`
    (plan → semplan.metadata.PlanMetadata) is carried with each plan, and when the plans span
    two years or more the report gains its over-time section.
    """
    from semplan.report.html import write_html
    from semplan.report.json_export import write_json
    from semplan.report.markdown import write_markdown
    from semplan.report.tables import write_clauses_csv, write_priorities_csv
    from semplan.report.view import report_view
    from semplan.report.xlsx import write_xlsx

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InvalidArgument(f"report output {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    view = report_view(
        analysis, sources=sources, source_paths=source_paths, title=title, metadata=metadata, plan_metadata=plan_metadata
    )
    return {
        "report.html": write_html(view, out / "report.html"),
        "report.md": write_markdown(view, out / "report.md"),
        "priorities.csv": write_priorities_csv(view, out / "priorities.csv"),
        "clauses.csv": write_clauses_csv(view, out / "clauses.csv"),
        "report.json": write_json(view, out / "report.json"),
        "report.xlsx": write_xlsx(view, out / "report.xlsx"),
    }


def report_corpus(
    corpus: Any, out_dir: str | os.PathLike, *, title: str = "semplan report", progress: Progress = NO_PROGRESS,
    **cluster_options: Any,
) -> tuple[PriorityAnalysis, dict[str, Path]]:
    """Find the priorities of an open `semplan.store.Corpus` and write its report; `progress` hears of
    stage "load", the clustering's stages, then "write"."""
    from semplan.cluster import find_priorities, with_verdicts
    from semplan.compare import plan_metadata

    progress.stage("load")
    clauses = corpus.clauses()
    vectors = corpus.vectors()
    analysis = find_priorities(clauses, vectors, progress=progress,
                               **with_verdicts(cluster_options, corpus.model_identity))
    plans = corpus.plans()
    identity = corpus.model_identity
    metadata = {
        "index": str(corpus.directory),
        "model": identity.get("name") or identity.get("model"),
        "model_identity": identity,
    }
    progress.stage("write")
    files = write_report(
        analysis,
        out_dir,
        sources={plan.plan_id: corpus.source_text(plan.plan_id) for plan in plans},
        source_paths={plan.plan_id: plan.path for plan in plans},
        title=title,
        metadata=metadata,
        plan_metadata=plan_metadata(corpus),
    )
    return analysis, files


__all__ = ["REPORT_FILES", "report_corpus", "write_report"]
