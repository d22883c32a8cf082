"""`semplan index`: build or update an on-disk corpus index."""

from __future__ import annotations

import click

from semplan.cli._options import WholeNumber
from semplan.cli._scale import engine_arguments, engine_options
from semplan.cli.plans import metadata_options, metadata_overrides
from semplan.errors import InputError, InvalidArgument


@click.command(name="index")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--out", "-o", "directory", required=True, type=click.Path(path_type=str),
              help="Index directory: created if missing, updated if it is an index already.")
@click.option("--model", "-m", default=None,
              help="Model for a new index (default: multilingual-e5-small). An existing index must match.")
@click.option("--backend", "-b", default="auto", show_default=True,
              help="Encoder backend: auto, torch, onnx, onnx-int8, openvino-int8, use.")
@click.option("--keep-going", is_flag=True,
              help="Report unreadable files and index the rest (exit status is still 1).")
@click.option("--plan-id", "plan_ids", multiple=True, metavar="ID",
              help="Plan id for each PATH in order (default: the file stem). Repeat once per file; not for directories.")
@click.option("--replace", is_flag=True,
              help="Let a file replace a stored plan of the same id that came from another file.")
@click.option("--remove", "remove_plans", multiple=True, metavar="PLAN",
              help="Remove this plan from the index. Repeatable.")
@click.option("--ann-threshold", type=WholeNumber(min=1), default=None,
              help="New index only: above this many clauses use an approximate (IVF) FAISS index. [default: 200000]")
@metadata_options
@engine_options
def command(paths, directory, model, backend, keep_going, plan_ids, replace, remove_plans, ann_threshold,
            **metadata_values):
    """Read, segment and encode plans into an index directory (SQLite + FAISS + manifest.json).

    PATH is a plan file (.txt, .docx, .html, .pdf) or a directory of them; the plan id is
    the file stem, or --plan-id. Re-running is incremental: unchanged files are skipped, a
    changed file replaces its plan's clauses, and only clause texts not yet in the index are
    encoded. A different file with the id of a stored plan (plans/2022/city.txt after
    plans/2021/city.txt) is refused: give it --plan-id, or --replace the stored plan.

    A run interrupted before its commit leaves the index as it was; one interrupted after
    its commit has added the new plans, and a FAISS file it did not finish is never used
    (searches rebuild the FAISS index from the database; the next `semplan index` writes
    it anew).

    \b
    Example:
      semplan index semplan/data/sample_plans --out out/index
      semplan index new-plans/2024.docx --out out/index
      semplan index plans/2022/city.txt --plan-id city-2022 --out out/index
      semplan index --remove city-2019 --out out/index
      semplan index plans/ --out out/index --meta plans.csv
      semplan index plans/ --out out/index --engine ray --ray-concurrency 2
      semplan index --manifest plans.csv --out out/index --engine ray --ray-address auto
    """
    from semplan.cli import error_line
    from semplan.cli._progress import command_progress, notice, write_stderr
    from semplan.ingest import update_index

    engine = engine_arguments(metadata_values, paths, plan_ids)
    paths, plan_ids = engine.pop("paths", paths), engine.pop("plan_ids", plan_ids)
    overrides = metadata_overrides(metadata_values, engine.pop("manifest", None))
    if not paths and not remove_plans:
        raise click.UsageError("give plan files or directories to index, or --remove PLAN")
    if plan_ids and len(plan_ids) != len(paths):
        raise click.UsageError(f"{len(plan_ids)} --plan-id values for {len(paths)} paths: give one per PATH")

    def warn(path: str, error: Exception) -> None:
        write_stderr(error_line(str(error)))

    try:
        with command_progress("index") as progress:
            update = update_index(directory, paths, remove=remove_plans, model=model, backend=backend,
                                  ann_threshold=ann_threshold, keep_going=keep_going, on_error=warn,
                                  plan_ids=plan_ids or None, replace=replace, metadata=overrides,
                                  progress=progress, **engine)
    except InvalidArgument as error:  # an option that does not fit this index: a usage error
        raise click.UsageError(str(error)) from None
    if update.removed:
        notice(f"{directory}: removed {', '.join(update.removed)}")
    if update.added is not None:
        notice(f"{directory}: {update.added.summary()}")
        if update.added.failed:
            raise InputError(f"{len(update.added.failed)} input(s) could not be indexed: "
                             + ", ".join(path for path, _ in update.added.failed))
    notice(f"{directory}: {update.counts['plans']} plans, {update.counts['clauses']} clauses "
           f"({update.faiss_kind} FAISS index, model {update.model})")
