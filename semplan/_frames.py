"""pandas DataFrames of semplan's results, for notebooks: one helper, one install hint.

pandas is an optional extra (`pip install 'semplan[frames]'`): it adds about 90 MB installed
(docs/analyst.md), and nothing else in semplan needs it. Each result's `to_frame()` builds its
rows as plain dicts and hands them here; without pandas it raises `MissingDependency` naming
the install command.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from semplan.errors import MissingDependency

INSTALL_HINT = "pip install 'semplan[frames]'"


def require_pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise MissingDependency(f"DataFrames need pandas, which is not installed: {INSTALL_HINT}") from None
    return pandas


def data_frame(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> Any:
    """A DataFrame of `rows` with exactly `columns`, in order (an empty result keeps its columns)."""
    pandas = require_pandas()
    return pandas.DataFrame.from_records(list(rows), columns=list(columns))
