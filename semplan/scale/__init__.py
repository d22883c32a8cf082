"""Scale-out: the indexing pipeline on an existing distributed engine (Ray Data), same index format.

`index_paths_ray` is `ingest.index_paths` with its stages on a Ray cluster; pass it to
`ingest.update_index` as the `indexer` (see `ray_indexer`). Needs `pip install 'semplan[ray]'`;
Ray itself is imported only when a run starts. docs/SCALE.md says what it costs at 10M clauses.
"""

from __future__ import annotations

import functools

from semplan.ingest import Indexer
from semplan.scale.ray_engine import DEFAULT_PLANS_PER_BATCH, RayOptions, index_paths_ray, ray_options


def ray_indexer(options: RayOptions | None = None) -> Indexer:
    """The `indexer` for `ingest.update_index` that runs the pipeline on Ray with `options`."""
    return functools.partial(index_paths_ray, options=options or RayOptions())


__all__ = ["DEFAULT_PLANS_PER_BATCH", "RayOptions", "index_paths_ray", "ray_indexer", "ray_options"]
