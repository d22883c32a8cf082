"""paths → documents → clauses → vectors → the store: the one place the pipeline runs end to end.

Incremental: a file whose plan id and sha256 are already stored is left as it is; a changed file
replaces its plan's clauses. A clause whose matching text the index already holds gets the stored
vector, so only new texts reach the encoder, whose own cache catches the rest. Everything one call
adds is one store transaction, committed after every document is encoded: a run interrupted before
the commit leaves the index as it was; after it, the index holds every plan of the run, and the
next search or write brings the FAISS file and manifest up to date (docs/index-design.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semplan._fs import discard_dir
from semplan._progress import NO_PROGRESS, Progress, Within
from semplan.encode import Encoder
from semplan.errors import InputError, InvalidArgument, SemplanError, StoreError
from semplan.mask import mask_plan
from semplan.metadata import MetadataOverrides, PlanMetadata, document_metadata
from semplan.models import DEFAULT_MODEL, resolve_model
from semplan.read import Document, count_plan_files, iter_documents
from semplan.segment import Clause, RepeatedLines, segment_document
from semplan.store import DEFAULT_ANN_THRESHOLD, Corpus, PlanWriter

logger = logging.getLogger(__name__)

Segmenter = Callable[[Document], list[Clause]]
OnError = Callable[[str, Exception], None]
# What a changed plan's clauses (masked) and their vectors are: segmented and encoded here
# (`index_documents`), or read from where another engine put them (semplan.scale).
Prepare = Callable[["PlanWriter", Document, "AddReport"], tuple[list[Clause], np.ndarray]]
# Indexes paths into an open corpus: `index_paths`, or another engine's (semplan.scale).
Indexer = Callable[..., "AddReport"]


@dataclass
class AddReport:
    """What one `index_paths` or `index_documents` did."""

    added: list[str] = dataclasses.field(default_factory=list)
    replaced: list[str] = dataclasses.field(default_factory=list)
    unchanged: list[str] = dataclasses.field(default_factory=list)
    failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (path, error)
    clauses_written: int = 0
    vectors_reused: int = 0  # clauses whose vector came from the index itself
    texts_cached: int = 0  # distinct texts the encoder found in its cache
    texts_encoded: int = 0  # distinct texts the model actually ran on (Encoder.texts_encoded)

    def summary(self) -> str:
        parts = [
            f"{len(self.added)} added",
            f"{len(self.replaced)} replaced",
            f"{len(self.unchanged)} unchanged",
        ]
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        return (
            f"plans: {', '.join(parts)}; clauses written: {self.clauses_written} "
            f"({self.texts_encoded} texts encoded, {self.texts_cached} from the embedding cache, "
            f"{self.vectors_reused} vectors reused from the index)"
        )


@dataclass(frozen=True)
class IndexUpdate:
    """What `update_index` did, and the index as it stands after."""

    directory: Path
    removed: list[str]
    added: AddReport | None  # None when no paths were given
    counts: Mapping[str, int]  # plans, clauses
    faiss_kind: str  # "flat" or "ivf"
    model: str


def index_paths(
    corpus: Corpus,
    paths: Iterable[str | os.PathLike],
    *,
    encoder: Encoder | None = None,
    keep_going: bool = False,
    on_error: OnError | None = None,
    plan_ids: Iterable[str | None] | None = None,
    replace: bool = False,
    metadata: MetadataOverrides | None = None,
    progress: Progress = NO_PROGRESS,
) -> AddReport:
    """Read, segment and encode plan files (directories expand) into `corpus`, in one transaction.

    `encoder` defaults to the index's own model (`Encoder.for_index`). With `keep_going`, a file
    that cannot be read or segmented is reported (in `AddReport.failed`, and to `on_error`) and the
    rest are indexed. `plan_ids` pairs an id with each path (`read.iter_documents`); `replace` as in
    `index_documents`. `progress` hears of the stages: "read" (files), then those of `index_documents`.
    """
    report = AddReport()
    paths = list(paths)
    progress.stage("read", count_plan_files(paths), "files")
    failed = recording_failures(report, on_error)

    def read_failed(path: Any, error: Exception) -> None:
        progress.advance()
        failed(path, error)

    def counted(documents: Iterable[Document]) -> Iterator[Document]:
        for document in documents:
            progress.detail(document.path.name if document.path is not None else document.plan_id)
            progress.advance()
            yield document

    documents = iter_documents(paths, keep_going=keep_going, on_error=read_failed if keep_going else None,
                               plan_ids=plan_ids)
    return index_documents(corpus, counted(documents), encoder=encoder, keep_going=keep_going, on_error=failed,
                           report=report, replace=replace, metadata=metadata, progress=progress)


def recording_failures(report: AddReport, on_error: OnError | None) -> OnError:
    """An `OnError` that records each failure in `report.failed`, then passes it on to `on_error`."""

    def failed(path: Any, error: Exception) -> None:
        report.failed.append((str(path), str(error)))
        if on_error is not None:
            on_error(str(path), error)

    return failed


def repeated_lines(corpus: Corpus, line_keys: Mapping[str, Iterable[str]]) -> RepeatedLines:
    """The lines recurring across this run's plans (`line_keys`: plan id → `RepeatedLines.line_keys`)
    and the stored plans the run does not replace."""
    stored = (
        RepeatedLines.line_keys(corpus.source_text(plan.plan_id)) for plan in corpus.plans() if plan.plan_id not in line_keys
    )
    return RepeatedLines.from_line_keys([*line_keys.values(), *stored])


def index_documents(
    corpus: Corpus,
    documents: Iterable[Document],
    *,
    encoder: Encoder | None = None,
    segmenter: Segmenter | None = None,
    keep_going: bool = False,
    on_error: OnError | None = None,
    report: AddReport | None = None,
    replace: bool = False,
    metadata: MetadataOverrides | None = None,
    progress: Progress = NO_PROGRESS,
) -> AddReport:
    """Segment and encode read documents into `corpus`, in one transaction (see `index_paths`).

    A changed file at a stored plan's path replaces that plan. A different file with the id of a
    stored plan (plans/2022/city.txt after plans/2021/city.txt) is an `InputError` unless `replace`.

    Without a `segmenter`, each document is segmented knowing the lines that recur across the
    plans of the index (this run's and those stored): a line in several plans' headers or footers
    is a site's chrome, not a plan's content.

    Each plan's metadata (semplan.metadata) is read from its text and file name and stored with
    it; `metadata` overrides it, and what was set by hand before is kept.

    `progress` hears of stage "index" (files; the detail names the file and its step: segment,
    encode with its texts done, write), then "save" (the commit, the FAISS file, the manifest).
    """
    if segmenter is None:
        documents = list(documents)
        keys = {document.plan_id: RepeatedLines.line_keys(document.text) for document in documents}
        segmenter = functools.partial(segment_document, repeated=repeated_lines(corpus, keys))
    encoder = encoder or Encoder.for_index(corpus.model_identity, index=corpus.directory)
    prepare = functools.partial(_segment_and_encode, segmenter=segmenter, encoder=encoder, progress=progress)
    return write_documents(corpus, documents, prepare, keep_going=keep_going, on_error=on_error, report=report,
                           replace=replace, metadata=metadata, progress=progress)


def write_documents(
    corpus: Corpus,
    documents: Iterable[Document],
    prepare: Prepare,
    *,
    keep_going: bool = False,
    on_error: OnError | None = None,
    report: AddReport | None = None,
    replace: bool = False,
    metadata: MetadataOverrides | None = None,
    progress: Progress = NO_PROGRESS,
) -> AddReport:
    """Write read documents into `corpus` in one transaction, each changed one's clauses and vectors
    from `prepare(writer, document, report)`: the write path of `index_documents` and of semplan.scale."""
    report = report if report is not None else AddReport()
    seen: dict[str, str] = {}
    with corpus.writing() as writer:
        stored_paths = {record.plan_id: record.path for record in corpus.plans()}
        progress.stage("index", len(documents) if isinstance(documents, list) else None, "files")
        for document in documents:
            where = str(document.path) if document.path is not None else document.plan_id
            try:
                if document.plan_id in seen:
                    raise InputError(f"{where}: plan id {document.plan_id!r} is already taken by {seen[document.plan_id]}")
                seen[document.plan_id] = where
                stored_metadata = writer.stored_metadata(document.plan_id)  # before a replaced plan's rows go
                _write_document(writer, document, prepare, report, None if replace else stored_paths,
                                progress=progress)
                _write_metadata(writer, document, metadata, stored_metadata)
            except SemplanError as error:
                if not keep_going:
                    raise
                if on_error is not None:
                    on_error(where, error)
                else:
                    report.failed.append((where, str(error)))
            progress.advance()
        progress.stage("save")
        progress.detail("commit, FAISS index, manifest")
    return report


@contextlib.contextmanager
def _encoder_reporting_to(encoder: Encoder, progress: Progress, label: str) -> Iterator[None]:
    """While indexing, the encoder's texts show as the detail of the "index" stage, which counts files."""
    if progress is NO_PROGRESS or not isinstance(encoder, Encoder):
        yield
        return
    own, encoder.progress = encoder.progress, Within(progress, label)
    try:
        yield
    finally:
        encoder.progress = own


def _write_document(
    writer: PlanWriter, document: Document, prepare: Prepare, report: AddReport,
    stored_paths: Mapping[str, str | None] | None = None, progress: Progress = NO_PROGRESS,
) -> None:
    path = str(document.path) if document.path is not None else None
    if writer.stored_sha256(document.plan_id) == document.sha256:
        writer.update_path(document.plan_id, path)
        report.unchanged.append(document.plan_id)
        return
    if stored_paths is not None:
        _refuse_other_file(document.plan_id, stored_paths.get(document.plan_id), path)
    clauses, stacked = prepare(writer, document, report)
    progress.detail(f"write {document.plan_id}")
    replaced = writer.put_plan(
        document.plan_id, source_text=document.text, sha256=document.sha256, clauses=clauses, vectors=stacked,
        path=path, encoding=document.encoding,
    )
    (report.replaced if replaced else report.added).append(document.plan_id)
    report.clauses_written += len(clauses)
    logger.debug("%s: %d clauses written", document.plan_id, len(clauses))


def _segment_and_encode(
    writer: PlanWriter, document: Document, report: AddReport, *, segmenter: Segmenter, encoder: Encoder,
    progress: Progress = NO_PROGRESS,
) -> tuple[list[Clause], np.ndarray]:
    """A plan's masked clauses and their vectors: those the index holds, the rest from `encoder`."""
    progress.detail(f"segment {document.plan_id}")
    clauses = mask_clauses(segmenter(document))
    texts = [clause.match_text for clause in clauses]
    vectors = writer.stored_vectors(texts)
    report.vectors_reused += sum(1 for text in texts if text in vectors)
    missing = [text for text in dict.fromkeys(texts) if text not in vectors]
    if missing:
        progress.detail(f"encode {document.plan_id}")
        encoded_before = getattr(encoder, "texts_encoded", 0)
        with _encoder_reporting_to(encoder, progress, document.plan_id):
            encoded = np.asarray(encoder.encode_clauses(missing), dtype=np.float32)
        encoded_now = getattr(encoder, "texts_encoded", 0) - encoded_before
        if encoded.shape != (len(missing), writer.dims):
            raise StoreError(f"the encoder returned vectors of shape {encoded.shape}, expected ({len(missing)}, {writer.dims})")
        vectors.update(zip(missing, encoded, strict=True))
        report.texts_encoded += encoded_now
        report.texts_cached += len(missing) - encoded_now
    stacked = np.stack([vectors[text] for text in texts]) if texts else np.zeros((0, writer.dims), dtype=np.float32)
    return clauses, stacked


def mask_clauses(clauses: list[Clause]) -> list[Clause]:
    """The clauses with place names masked in the text that is encoded and matched (display text unchanged).

    Without it, clauses of one plan resemble each other through its own city's name, and a
    priority can be held together by 清远市 alone (docs/quality.md measures the effect).
    """
    masked = mask_plan([clause.match_text for clause in clauses])
    return [
        clause if text == clause.match_text else dataclasses.replace(clause, match_text=text)
        for clause, text in zip(clauses, masked, strict=True)
    ]


def _refuse_other_file(plan_id: str, stored_path: str | None, path: str | None) -> None:
    """`InputError` when `path` is another file than the one the stored plan `plan_id` came from."""
    if stored_path is None or path is None or stored_path == path:
        return
    try:
        if os.path.samefile(stored_path, path):
            return
    except OSError:  # the stored file is gone or was given relative to another directory
        pass
    raise InputError(
        f"{path}: plan id {plan_id!r} is already in the index from {stored_path}; give this file "
        f"another id with --plan-id NEW, or replace that plan with --replace"
    )


def _write_metadata(
    writer: PlanWriter, document: Document, overrides: MetadataOverrides | None, stored: Mapping[str, Any] | None
) -> None:
    """The plan's metadata from its text and file name, what was set by hand before (`stored`), then `overrides`."""
    previous = PlanMetadata.from_row(document.plan_id, stored) if stored else None
    writer.put_metadata(document.plan_id, document_metadata(document, overrides, previous).to_row())


def update_index(
    directory: str | os.PathLike,
    paths: Iterable[str | os.PathLike] = (),
    *,
    remove: Iterable[str] = (),
    encoder: Encoder | None = None,
    model: str | None = None,
    backend: str = "auto",
    ann_threshold: int | None = None,
    keep_going: bool = False,
    on_error: OnError | None = None,
    plan_ids: Iterable[str | None] | None = None,
    replace: bool = False,
    metadata: MetadataOverrides | None = None,
    progress: Progress = NO_PROGRESS,
    indexer: Indexer | None = None,
) -> IndexUpdate:
    """Open the index at `directory`, or create it when there are paths to add; remove plans, then add paths.

    A new index is for `encoder`, else `model` (default: multilingual-e5-small) on `backend`, and
    takes `ann_threshold`. An existing one keeps its model: `encoder` or `model` must match it, and
    its vectors come from `encoder`, else its own model on `backend` ("auto": the one that built it).
    `plan_ids`, `replace` and `progress` go to `index_paths`, or to `indexer`, which indexes the paths instead
    (semplan.scale's Ray engine) and takes the same arguments.
    """
    directory = Path(directory)
    paths, remove = list(paths), list(remove)
    exists = Corpus.exists(directory)
    if exists and ann_threshold is not None:
        raise InvalidArgument("--ann-threshold applies only when creating an index")
    if exists or not paths:  # without paths there is nothing to create an index from: open says what is missing
        expected = encoder.identity() if encoder is not None else (_named_model(model) if model else None)
        corpus = Corpus.open(directory, model_identity=expected)
    else:
        encoder = encoder or Encoder(model=model or DEFAULT_MODEL, backend=backend)
        corpus = Corpus.create(directory, encoder.identity(), ann_threshold=ann_threshold or DEFAULT_ANN_THRESHOLD)
    stored_nothing = False
    try:
        with corpus:
            try:
                removed = corpus.remove(remove) if remove else []
                added = None
                if paths:
                    encoder = encoder or Encoder.for_index(
                        corpus.model_identity, None if backend == "auto" else backend, index=directory
                    )
                    added = (indexer or index_paths)(corpus, paths, encoder=encoder, keep_going=keep_going,
                                                     on_error=on_error, plan_ids=plan_ids, replace=replace,
                                                     metadata=metadata, progress=progress)
            except BaseException:
                stored_nothing = not exists and not corpus.plans()
                raise
            stored_nothing = not exists and not corpus.plans()  # --keep-going, and every input failed
            return IndexUpdate(
                directory, removed, added, dict(corpus.manifest["counts"]), corpus.manifest["index"]["kind"],
                str(corpus.model_identity["model"]),
            )
    finally:
        # A first run that stored nothing leaves no index: otherwise the corrected command would
        # meet an empty index that refuses --ann-threshold and --model, which it never used.
        if stored_nothing:
            discard_dir(directory)


def _named_model(name: str) -> dict[str, Any]:
    """The identity an index built with the model `name` has (without loading the model)."""
    spec = resolve_model(name)
    return {"model": spec.name, "revision": spec.revision, "dims": spec.dims}
