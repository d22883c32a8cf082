"""sentence-transformers in fp32 on the CPU: the reference backend."""

from __future__ import annotations

import contextlib
import os
import socket
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from semplan.errors import ModelError

if TYPE_CHECKING:
    from semplan.models import ModelSpec


class TorchBackend:
    """One loaded SentenceTransformer; `embed` runs one forward pass per call."""

    name = "torch"

    def __init__(self, model, dims: int):
        self.model = model
        self.dims = dims

    def embed(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(
            texts,
            # The Encoder has already prefixed the role's prompt; "" stops the model's own default prompt.
            prompt="",
            # The Encoder batches (and length-sorts) already: one call is one forward pass.
            batch_size=max(len(texts), 1),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def load(spec: ModelSpec) -> TorchBackend:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise ModelError(
            f"the torch backend needs sentence-transformers: pip install semplan ({error})"
        ) from None
    if Path(spec.location).is_dir():
        model = _load_or_explain(SentenceTransformer, spec)
    else:
        model = _load_from_hub(SentenceTransformer, spec)
    # Renamed in sentence-transformers 6; the old name warns.
    get_dims = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dims = get_dims()
    if not dims:
        raise ModelError(f"model {spec.name!r} does not declare its embedding size")
    return TorchBackend(model, int(dims))


def _load_or_explain(load_model, spec: ModelSpec, **options):
    try:
        with _quiet_transformers():
            return load_model(spec.location, device="cpu", **options)
    except Exception as error:  # sentence-transformers raises OSError, ValueError, HF errors alike
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(f"cannot load model {spec.name!r} from {spec.location}: {detail}") from None


def _load_from_hub(load_model, spec: ModelSpec):
    """A hub id: from the local hub cache if it is there, else downloaded, if the hub can be reached at all.

    Without the reachability check, an unreachable hub costs minutes of retries and a screen of warnings.
    """
    revision = spec.revision if spec.revision and spec.revision != "main" else None
    try:
        with _quiet_transformers():
            return load_model(spec.location, device="cpu", revision=revision, local_files_only=True)
    except Exception:
        pass
    if _hub_offline():
        where = "offline (HF_HUB_OFFLINE is set)"
    elif not _hub_reachable():
        where = f"unreachable from here ({_hub_endpoint()})"
    else:
        return _load_or_explain(load_model, spec, revision=revision)
    raise ModelError(
        f"model {spec.name!r} is not on disk and the model hub is {where}; "
        "pass a local sentence-transformers directory or a registry model (semplan models list)"
    )


def _hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def _hub_reachable(timeout: float = 3.0) -> bool:
    url = urllib.parse.urlsplit(_hub_endpoint())
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", port), timeout=timeout):
            return True
    except OSError:
        return False


def _hub_offline() -> bool:
    return any(
        os.environ.get(var, "").lower() in ("1", "true", "yes")
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


@contextlib.contextmanager
def _quiet_transformers():
    """No "Loading weights" bar from transformers: semplan's own progress is the only output on stderr."""
    try:
        from transformers.utils import logging as transformers_logging
    except ImportError:
        yield
        return
    was_enabled = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            transformers_logging.enable_progress_bar()
