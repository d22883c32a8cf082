"""`semplan index --engine ray`: the indexing pipeline on Ray Data, over one machine or a cluster.

The stages are the single-process ones, run where Ray puts them:

1. read: `read.read_document` on each listed file, in parallel tasks; each plan's candidate
   chrome lines (`RepeatedLines.line_keys`) come back with it;
2. the driver counts those lines across the run's plans and the stored ones
   (`ingest.repeated_lines`), as the single-process path does before it segments;
3. segment: `segment.segment_document` and `ingest.mask_clauses`, in parallel tasks;
4. encode: `ray.data.Dataset.map_batches` with a callable class, so each actor loads the model
   once (an `Encoder` with the embedding cache: only texts the cache lacks reach the model);
5. the rows (one per plan: document, masked clauses, vectors) are written as Parquet shards;
6. the driver streams the shards into the index through `ingest.write_documents`, the write path
   of the single-process engine: one store transaction, the same files, the same crash safety,
   and the store picks an exact or IVF FAISS index by size as it always does.

Plans whose file the index already holds (same id and sha256) are read but neither segmented nor
encoded. A file that cannot be read or segmented stops the run, or with `keep_going` is reported.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semplan._fs import scratch_dir
from semplan._progress import NO_PROGRESS, Progress
from semplan.encode import Encoder
from semplan.errors import InputError, InvalidArgument, MissingDependency, SemplanError
from semplan.ingest import (
    AddReport,
    OnError,
    mask_clauses,
    recording_failures,
    repeated_lines,
    write_documents,
)
from semplan.metadata import MetadataOverrides
from semplan.read import Document, plan_files, read_document
from semplan.scale import shards
from semplan.segment import Clause, RepeatedLines, segment_document
from semplan.store import Corpus, PlanWriter

logger = logging.getLogger(__name__)

# Plans per map_batches call of an encoding actor: a few plans (hundreds of clauses each) fill
# the backend's batches and keep the actors' queues short.
DEFAULT_PLANS_PER_BATCH = 4
SHARDS_SUFFIX = ".ray-shards"


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide the Ray engine runs.

    `address`: an existing cluster ("auto", "ray://host:10001", "host:6379"); None starts a local
    one for the run. `concurrency`: encoding actors (default: one per CPU of the cluster, or per
    GPU when it has GPUs). `plans_per_batch`: plans handed to an actor at a time. `shards`: where
    the Parquet shards go (a directory every node can write to on a multi-machine cluster; kept);
    None: a scratch directory beside the index, removed after the build. `num_cpus`: CPUs of a
    local cluster (default: all).
    """

    address: str | None = None
    concurrency: int | None = None
    plans_per_batch: int = DEFAULT_PLANS_PER_BATCH
    shards: str | os.PathLike | None = None
    num_cpus: int | None = None

    def __post_init__(self) -> None:
        for name in ("concurrency", "plans_per_batch", "num_cpus"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InvalidArgument(f"{name.replace('_', ' ')} must be at least 1, got {value}")


def index_paths_ray(
    corpus: Corpus,
    paths: Iterable[str | os.PathLike],
    *,
    encoder: Encoder,
    keep_going: bool = False,
    on_error: OnError | None = None,
    plan_ids: Iterable[str | None] | None = None,
    replace: bool = False,
    metadata: MetadataOverrides | None = None,
    options: RayOptions | None = None,
    progress: Progress = NO_PROGRESS,
) -> AddReport:
    """`ingest.index_paths` on Ray: the same arguments and result, the stages spread over a cluster.

    `encoder` names the model, backend and embedding cache the actors load (each its own copy).
    `progress` hears of stage "ray" (reading, segmenting and encoding on the cluster), then the
    write stages of `ingest.write_documents`.
    """
    options = options or RayOptions()
    report = AddReport()
    failed = recording_failures(report, on_error)

    targets = [(str(file), plan_id) for file, plan_id in plan_files(list(paths), keep_going, failed, plan_ids)]
    if not targets:
        return report
    ray = _ray()
    with _RaySession(ray, options), _shards_dir(corpus.directory, options.shards) as shards_dir:
        progress.stage("ray")
        progress.detail("read, segment and encode on the cluster")
        started = time.perf_counter()
        stored = {record.plan_id: record.sha256 for record in corpus.plans()}
        read = ray.data.from_items([{"path": path, "plan_id": plan_id} for path, plan_id in targets])
        read = read.map(_read_plan, fn_kwargs={"stored": stored}).materialize()
        keys, accepted = _line_keys(read, targets, keep_going, failed)
        repeated = repeated_lines(corpus, keys)
        read_at = time.perf_counter()
        logger.info("ray: read %d plans in %.1f s", len(accepted), read_at - started)
        segmented = read.map(_segment_plan, fn_kwargs={"repeated": repeated})
        encoded = segmented.map_batches(
            _EncodePlans, batch_size=options.plans_per_batch, batch_format="pyarrow", zero_copy_batch=True,
            **_actor_arguments(ray, options, encoder),
        )
        encoded.write_parquet(str(shards_dir))
        encoded_at = time.perf_counter()
        logger.info("ray: segmented and encoded them into %s in %.1f s", shards_dir, encoded_at - read_at)
        reader = _ShardReader(shards_dir, encoder.dims, accepted, keep_going, failed)
        written = write_documents(corpus, reader.documents(report), reader.prepare, keep_going=keep_going,
                                  on_error=failed, report=report, replace=replace, metadata=metadata,
                                  progress=progress)
        logger.info("ray: wrote the index from the shards in %.1f s", time.perf_counter() - encoded_at)
        return written


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError:
        raise MissingDependency("--engine ray needs Ray: pip install 'semplan[ray]'") from None
    return ray


class _RaySession:
    """Attach to `options.address`, or start a local cluster; leave only what this run started."""

    def __init__(self, ray: Any, options: RayOptions):
        self.ray, self.options, self.started = ray, options, False

    def __enter__(self) -> None:
        if self.ray.is_initialized():
            return
        # A remote cluster's nodes have their own installation of semplan.
        runtime_env = local_runtime_env() if self.options.address is None else None
        try:
            self.ray.init(address=self.options.address, num_cpus=self.options.num_cpus, runtime_env=runtime_env,
                          include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
        except (ConnectionError, ValueError, RuntimeError) as error:
            raise SemplanError(f"cannot start or reach the Ray cluster {self.options.address or '(local)'}: {error}") from None
        self.started = True
        # Ray Data reports every stage at INFO; semplan's own notices say what the run did.
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        self.ray.data.DataContext.get_current().enable_progress_bars = False

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.ray.shutdown()


def local_runtime_env() -> dict[str, Any]:
    """For `ray.init` of a local cluster: workers import the semplan this driver runs (a checkout
    run with `python -m` is not on the workers' path otherwise)."""
    package_root = str(Path(__file__).resolve().parents[2])
    return {"env_vars": {"PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}}


def _shards_dir(index: Path, chosen: str | os.PathLike | None) -> contextlib.AbstractContextManager[Path]:
    if chosen is None:
        return scratch_dir(Path(index), suffix=SHARDS_SUFFIX)
    chosen = Path(chosen)
    if chosen.exists() and any(chosen.iterdir()):
        raise InvalidArgument(f"{chosen}: the shards directory must be new or empty")
    chosen.mkdir(parents=True, exist_ok=True)
    return contextlib.nullcontext(chosen)


def _read_plan(target: dict[str, Any], stored: dict[str, str]) -> dict[str, Any]:
    """Ray task: one file → its document row and its candidate chrome lines."""
    try:
        document = read_document(target["path"], target["plan_id"])
    except SemplanError as error:
        return {**shards.error_row(target["path"], target["plan_id"], str(error)), "line_keys": []}
    unchanged = stored.get(document.plan_id) == document.sha256
    return {**shards.document_row(document, unchanged=unchanged),
            "line_keys": sorted(RepeatedLines.line_keys(document.text))}


def _line_keys(
    read: Any, targets: list[tuple[str, str | None]], keep_going: bool, failed: OnError
) -> tuple[dict[str, list[str]], set[str]]:
    """Each read plan's chrome-line keys by plan id, and the paths read; unreadable files and taken
    ids stop the run or are reported."""
    keys: dict[str, list[str]] = {}
    rows = {row["path"]: row for row in read.select_columns(["path", "plan_id", "error", "line_keys"]).iter_rows()}
    seen: dict[str, str] = {}
    for path, _ in targets:  # in listing order, so the first error is the first file's
        row = rows[path]
        error = row["error"] or (
            f"{path}: plan id {row['plan_id']!r} already used by {seen[row['plan_id']]} (give another with --plan-id)"
            if row["plan_id"] in seen else None
        )
        if error is not None:
            if not keep_going:
                raise InputError(error)
            failed(path, InputError(error))
            continue
        seen[row["plan_id"]] = path
        keys[row["plan_id"]] = list(row["line_keys"])
    return keys, set(seen.values())


def _segment_plan(row: dict[str, Any], repeated: RepeatedLines) -> dict[str, Any]:
    """Ray task: a changed plan's masked clauses (as the single-process path segments and masks them)."""
    row = {name: row[name] for name in shards.COLUMNS}
    if row["error"] is None and not row["unchanged"]:
        try:
            clauses = mask_clauses(segment_document(shards.row_document(row), repeated=repeated))
            row["clauses"] = shards.clauses_json(clauses)
        except SemplanError as error:
            row["error"] = f"{row['path']}: {error}"
    return row


def _actor_arguments(ray: Any, options: RayOptions, encoder: Encoder) -> dict[str, Any]:
    """The encoding actors: how many, what each asks Ray for, what each loads.

    A GPU each when the cluster has GPUs and the index's backend is torch, the one backend that
    runs on a GPU (an index holds one backend's vectors: an int8 CPU index is not extended with
    GPU fp32 vectors); else a CPU each, one actor per CPU of the cluster.
    """
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0)) if encoder.backend_name == "torch" else 0
    constructor = {
        "model": encoder.spec.name, "backend": encoder.backend_name, "batch_size": encoder.batch_size,
        "cache_path": None if encoder.cache_path is None else str(encoder.cache_path),
        "device": "cuda" if gpus else "cpu",
    }
    if gpus:
        return {"compute": ray.data.ActorPoolStrategy(size=options.concurrency or gpus), "num_gpus": 1,
                "fn_constructor_kwargs": constructor}
    actors = options.concurrency or max(1, int(resources.get("CPU", 1)))
    return {"compute": ray.data.ActorPoolStrategy(size=actors), "num_cpus": 1, "fn_constructor_kwargs": constructor}


class _EncodePlans:
    """Ray actor: loads the encoder once, then encodes the clauses of each batch of plans.

    Each plan's distinct texts go to `Encoder.encode_clauses` together, as `ingest` hands them
    over, so the two paths form the same backend batches; the embedding cache serves repeats.
    """

    def __init__(self, model: str, backend: str, batch_size: int, cache_path: str | None, device: str = "cpu"):
        self.encoder = Encoder(model=model, backend=backend, batch_size=batch_size, cache_path=cache_path,
                               progress=False)
        if device != "cpu":  # the torch backend's SentenceTransformer, on the GPU Ray gave this actor
            self.encoder.backend.model.to(device)

    def __call__(self, batch: Any) -> Any:
        import pyarrow

        rows = batch.to_pylist()
        for row in rows:
            texts = [clause.match_text for clause in shards.row_clauses(row)]
            distinct = list(dict.fromkeys(texts))
            if not distinct:
                continue
            before = self.encoder.texts_encoded
            vectors = dict(zip(distinct, self.encoder.encode_clauses(distinct), strict=True))
            row["vectors"] = shards.vectors_bytes(np.stack([vectors[text] for text in texts]))
            row["texts_encoded"] = self.encoder.texts_encoded - before
            row["texts_cached"] = len(distinct) - row["texts_encoded"]
        return pyarrow.Table.from_pylist(rows, schema=batch.schema)


class _ShardReader:
    """The shards' documents in turn for `ingest.write_documents`, and (its Prepare) each one's
    clauses and vectors as the Ray stages left them."""

    def __init__(self, shards_dir: Path, dims: int, accepted: set[str], keep_going: bool, failed: OnError):
        self.shards_dir, self.dims, self.accepted = shards_dir, dims, accepted
        self.keep_going, self.failed = keep_going, failed
        self._pending: dict[str, tuple[list[Clause], np.ndarray]] = {}

    def documents(self, report: AddReport) -> Iterator[Document]:
        for row in shards.read_rows(self.shards_dir):
            if row["path"] not in self.accepted:  # unreadable, or its id was taken: reported already
                continue
            if row["error"] is not None:  # read, but not segmented
                if not self.keep_going:
                    raise InputError(row["error"])
                self.failed(row["path"], InputError(row["error"]))
                continue
            report.texts_encoded += row["texts_encoded"]
            report.texts_cached += row["texts_cached"]
            self._pending = {row["plan_id"]: (shards.row_clauses(row), shards.row_vectors(row, self.dims))}
            yield shards.row_document(row)
        self._pending = {}

    def prepare(self, writer: PlanWriter, document: Document, report: AddReport) -> tuple[list[Clause], np.ndarray]:
        return self._pending.pop(document.plan_id)


def ray_options(**values: Any) -> RayOptions:
    """RayOptions from keyword values, leaving out the ones that are None (the defaults)."""
    fields = {field.name for field in dataclasses.fields(RayOptions)}
    return RayOptions(**{name: value for name, value in values.items() if name in fields and value is not None})
