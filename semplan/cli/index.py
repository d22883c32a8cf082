"""`semplan index`: build or update an on-disk corpus index."""

from __future__ import annotations

import click

from semplan.errors import InputError


@click.command(name="index")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--out", "-o", "directory", required=True, type=click.Path(path_type=str),
              help="Index directory: created if missing, updated if it is an index already.")
@click.option("--model", "-m", default=None,
              help="Model for a new index (default: multilingual-e5-small). An existing index must match.")
@click.option("--backend", "-b", default="auto", show_default=True,
              help="Encoder backend: auto, torch, onnx, onnx-int8, use.")
@click.option("--keep-going", is_flag=True,
              help="Report unreadable files and index the rest (exit status is still 1).")
@click.option("--remove", "remove_plans", multiple=True, metavar="PLAN",
              help="Remove this plan from the index. Repeatable.")
@click.option("--ann-threshold", type=click.IntRange(min=1), default=None,
              help="New index only: above this many clauses use an approximate (IVF) FAISS index. [default: 200000]")
def command(paths, directory, model, backend, keep_going, remove_plans, ann_threshold):
    """Read, segment and encode plans into an index directory (SQLite + FAISS + manifest.json).

    PATH is a plan file (.txt, .docx, .html, .pdf) or a directory of them; the plan id is
    the file stem. Re-running is incremental: unchanged files are skipped, a changed file
    replaces its plan's clauses, and only clause texts not yet in the index are encoded.
    A run that is interrupted leaves the index as it was before.

    \b
    Example:
      semplan index semplan/data/sample_plans --out out/index
      semplan index new-plans/2024.docx --out out/index
      semplan index --remove city-2019 --out out/index
    """
    from pathlib import Path

    from semplan.store import MANIFEST, Corpus

    if not paths and not remove_plans:
        raise click.UsageError("give plan files or directories to index, or --remove PLAN")
    exists = (Path(directory) / MANIFEST).exists()
    if exists:
        if ann_threshold is not None:
            raise click.UsageError("--ann-threshold applies only when creating an index")
        corpus = Corpus.open(directory, model=model, backend=None if backend == "auto" else backend)
    elif paths:
        options = {"ann_threshold": ann_threshold} if ann_threshold is not None else {}
        from semplan.models import DEFAULT_MODEL

        corpus = Corpus.create(directory, model=model or DEFAULT_MODEL, backend=backend, **options)
    else:
        Corpus.open(directory)  # raises the one-line "no index at …" error
        return

    with corpus:
        if remove_plans:
            removed = corpus.remove(list(remove_plans))
            click.echo(f"{directory}: removed {', '.join(removed)}", err=True)
        if paths:
            def warn(path: str, error: Exception) -> None:
                click.echo(f"Error: {error}", err=True)

            report = corpus.add(paths, keep_going=keep_going, on_error=warn)
            click.echo(f"{directory}: {report.summary()}", err=True)
            if report.failed:
                raise InputError(f"{len(report.failed)} input(s) could not be indexed: "
                                 + ", ".join(path for path, _ in report.failed))
        counts = corpus.manifest["counts"]
        click.echo(f"{directory}: {counts['plans']} plans, {counts['clauses']} clauses "
                   f"({corpus.manifest['index']['kind']} FAISS index, model {corpus.model_identity['model']})",
                   err=True)
