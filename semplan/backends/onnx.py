"""onnxruntime backends: the model exported to ONNX once, run in fp32 ("onnx") or dynamic int8 ("onnx-int8").

sentence-transformers 6.2 cannot install its own `[onnx]` extra here (optimum pins an older transformers),
so the export is our own: the transformer plus mean pooling and L2 normalisation in one graph
(`torch.onnx.export`), fused by onnxruntime's transformer optimizer, then dynamically quantized to int8
with per-channel signed weight scales: per-tensor scales lose too much on AVX2 without VNNI, unsigned
weights are slower. Runs are spread over one single-threaded worker per core (see BATCH_SIZE). Dynamic
int8 scales each run's activations by that run's own range, so "onnx-int8" runs every text alone: a
text's vector then never depends on what it is encoded with (a batch of 16 changed vectors by up to
0.018; one text per run costs ~10-15% of the speed). The measurements behind these choices:
docs/models-design.md.

The exported files live beside the model they come from (`MODEL_DIR/onnx/REVISION-vFORMAT/`, git-ignored
with the model), are written to a temporary name and renamed into place, and are reused by every later
load; a model directory that is not writable gets its export under the semplan cache directory instead.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from semplan._fs import cache_dir, exclusive_lock, read_json, replace_atomically
from semplan.errors import MissingDependency, ModelError

if TYPE_CHECKING:
    from semplan.models import Log, ModelSpec

logger = logging.getLogger(__name__)

# Bump when the export recipe changes (graph, optimizer or quantization settings): old exports are ignored.
EXPORT_FORMAT = 1
FP32_FILE = "model.onnx"
INT8_FILE = "model-int8.onnx"

# 256 truncates no sample clause (with its prompt; token counts in docs/models-design.md); anything longer
# is a paragraph, not a clause, and is still encoded from its first 256 tokens (e5 itself stops at 512).
MAX_TOKENS = 256
# Rows per onnxruntime run. Runs go to a pool of single-threaded workers, one per core, rather than one
# run split over the cores: the GEMMs of a 16 × ~30-token batch are too small to split across cores
# without the cores waiting on each other (measured: docs/models-design.md).
BATCH_SIZE = 16


def available() -> bool:
    """onnxruntime and tokenizers are installed (exporting also needs onnx, torch and transformers)."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "tokenizers"))


class OnnxBackend:
    """One onnxruntime session over an exported model; `embed` tokenises, pads per batch and runs it."""

    def __init__(
        self, session, tokenizer, dims: int, name: str, pad_id: int, threads: int = 1, batch_size: int = BATCH_SIZE
    ):
        self.session = session
        self.pad_id = pad_id
        self.tokenizer = tokenizer
        self.dims = dims
        self.name = name
        self.batch_size = batch_size
        self.threads = threads
        self._input_names = {node.name for node in session.get_inputs()}
        # onnxruntime releases the GIL in run() and a session may be run from several threads at once.
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="semplan-onnx") if threads > 1 else None

    def embed(self, texts: list[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dims), dtype=np.float32)
        if not texts:
            return vectors
        encodings = self.tokenizer.encode_batch(list(texts))
        # Length-sorted batches pad least; the Encoder already sorts, a direct caller may not.
        order = sorted(range(len(texts)), key=lambda row: len(encodings[row].ids))
        batches = [order[start : start + self.batch_size] for start in range(0, len(order), self.batch_size)]

        def run(rows: list[int]) -> np.ndarray:
            return self._run([encodings[row].ids for row in rows])

        runs = self._pool.map(run, batches) if self._pool is not None and len(batches) > 1 else map(run, batches)
        for rows, pooled in zip(batches, runs, strict=True):
            vectors[rows] = pooled
        return vectors

    def _run(self, token_ids: list[list[int]]) -> np.ndarray:
        width = max(len(ids) for ids in token_ids)
        input_ids = np.full((len(token_ids), width), self.pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(token_ids), width), dtype=np.int64)
        for row, ids in enumerate(token_ids):
            input_ids[row, : len(ids)] = ids
            attention_mask[row, : len(ids)] = 1
        feed = {"input_ids": input_ids, "attention_mask": attention_mask}
        (pooled,) = self.session.run(None, {key: value for key, value in feed.items() if key in self._input_names})
        # The graph normalises already; doing it again in float32 keeps rows unit-length to the last bit.
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


def load(
    spec: ModelSpec,
    quantized: bool,
    threads: int | None = None,
    max_tokens: int = MAX_TOKENS,
    log: Log | None = None,
) -> OnnxBackend:
    """A ready backend for `spec`: exported (and quantized) on first use, reused afterwards."""
    ort = _require("onnxruntime")
    tokenizers = _require("tokenizers")
    model_dir = _model_dir(spec)
    layout = read_layout(model_dir)
    path = ensure_export(spec, quantized, log=log)

    options = ort.SessionOptions()
    # Parallel across batches, not within one (see BATCH_SIZE): one worker per physical core, each run
    # single-threaded, so no thread spins waiting for another.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ModelError(
            f"cannot load the ONNX export {path}: {_first_line(error)}; delete {path.parent} to re-export"
        ) from None

    tokenizer = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()  # padding is per batch, to the batch's longest text
    tokenizer.enable_truncation(max_length=min(max_tokens, layout["max_seq_length"]))
    name = "onnx-int8" if quantized else "onnx"
    return OnnxBackend(
        session, tokenizer, layout["dims"], name, pad_id=layout["pad_id"], threads=threads or physical_cores(),
        # One text per run for dynamic int8: its activation scales are then the text's own (module docstring).
        batch_size=1 if quantized else BATCH_SIZE,
    )


# --------------------------------------------------------------------------------------------- export


def export_dir(spec: ModelSpec) -> Path:
    """Where `spec`'s export lives: in the model directory when writable, else in the semplan cache."""
    model_dir = _model_dir(spec)
    leaf = f"{spec.revision}-v{EXPORT_FORMAT}"
    if os.access(model_dir, os.W_OK) or (model_dir / "onnx" / leaf).is_dir():
        return model_dir / "onnx" / leaf
    return cache_dir() / "onnx" / f"{model_dir.name}-{leaf}"


def ensure_export(spec: ModelSpec, quantized: bool, log: Log | None = None) -> Path:
    """The fp32 or int8 ONNX file for `spec`, exporting and quantizing it first if it is not there."""
    target_dir = export_dir(spec)
    target = target_dir / (INT8_FILE if quantized else FP32_FILE)
    if target.is_file():
        return target
    log = log or logger.info
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ModelError(f"cannot create {target_dir} for the ONNX export: {error.strerror}") from None
    # One export per model at a time: two processes started together wait rather than export twice.
    with exclusive_lock(target_dir / ".lock", what=f"the ONNX export of {spec.name}"):
        fp32 = target_dir / FP32_FILE
        if not fp32.is_file():
            log(f"exporting {spec.name} to ONNX (once per model revision; about a minute)")
            _write_export(fp32, lambda scratch: export_fp32(_model_dir(spec), scratch))
        if quantized and not target.is_file():
            log(f"quantizing {spec.name} to int8 (once per model revision)")
            _write_export(target, lambda scratch: quantize_int8(fp32, scratch))
    return target


def export_fp32(model_dir: Path, out: Path) -> None:
    """Transformer + mean/CLS pooling + L2 normalisation as one ONNX graph, fused for onnxruntime."""
    torch = _require("torch")
    transformers = _require("transformers")
    layout = read_layout(model_dir)
    try:
        # Eager attention exports as plain MatMul/Softmax, which the optimizer below fuses into one
        # Attention op per layer; the SDPA path exports a shape the optimizer does not recognise.
        model = transformers.AutoModel.from_pretrained(str(model_dir), attn_implementation="eager")
    except Exception as error:
        raise ModelError(f"cannot load {model_dir} with transformers for export: {_first_line(error)}") from None
    model.eval()
    pooled = _PooledEncoder(model, layout["pooling"], torch)
    sample_ids = torch.tensor([[0, 100, 200, 2], [0, 300, 2, layout["pad_id"]]], dtype=torch.long)
    sample_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=torch.long)
    raw = out.with_name(out.name + ".raw.onnx")
    with torch.no_grad(), _quiet():
        torch.onnx.export(
            pooled,
            (sample_ids, sample_mask),
            str(raw),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "embedding": {0: "batch"},
            },
            opset_version=17,
            # The TorchScript exporter: the dynamo one needs onnxscript and traces the same graph.
            dynamo=False,
        )
    try:
        _fuse(raw, out, layout)
    finally:
        raw.unlink(missing_ok=True)


def _fuse(raw: Path, out: Path, layout: dict) -> None:
    """Attention/LayerNorm/Gelu fusion; a graph the optimizer cannot fuse is kept as exported."""
    try:
        from onnxruntime.transformers import optimizer

        with _quiet():
            fused = optimizer.optimize_model(
                str(raw),
                model_type="bert",
                num_heads=layout["heads"],
                hidden_size=layout["hidden"],
                opt_level=0,
            )
            fused.save_model_to_file(str(out))
    except Exception as error:  # the optimizer is best-effort by design: it may not know the architecture
        logger.warning("ONNX fusion skipped (%s)", _first_line(error))
        shutil.copyfile(raw, out)


def quantize_int8(fp32: Path, out: Path) -> None:
    """Dynamic int8: weights per output channel (signed), activations quantized per run (unsigned)."""
    onnx = _require("onnx")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet():
        quantize_dynamic(
            str(fp32),
            str(out),
            weight_type=QuantType.QInt8,
            # Per-tensor scales lose too much on AVX2 (docs/models-design.md).
            per_channel=True,
            # The fused Attention/SkipLayerNorm ops are com.microsoft ones shape inference cannot type.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )


def pooled(hidden, attention_mask, pooling: str, torch):
    """The sentence vector of a batch's last hidden states: the CLS row or the masked mean, L2-normalised."""
    if pooling == "cls":
        vector = hidden[:, 0]
    else:
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        vector = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(vector, p=2, dim=1)


def _PooledEncoder(model, pooling: str, torch):  # noqa: N802 - builds a torch.nn.Module lazily (torch optional)
    class PooledEncoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            return pooled(hidden, attention_mask, pooling, torch)

    return PooledEncoder()


def read_layout(model_dir: Path) -> dict:
    """What the export and the backend need from a sentence-transformers directory, validated."""
    config = read_json(model_dir / "config.json")
    if config is None:
        raise ModelError(f"{model_dir} has no readable config.json: the onnx backend needs a transformer model")
    if not (model_dir / "tokenizer.json").is_file():
        raise ModelError(f"{model_dir} has no tokenizer.json (a fast tokenizer): the onnx backend needs one")
    modules = read_json(model_dir / "modules.json") or []
    pooling = "mean"
    for module in modules:
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        if kind == "Pooling":
            pooling_config = read_json(model_dir / module.get("path", "") / "config.json") or {}
            if pooling_config.get("pooling_mode_cls_token"):
                pooling = "cls"
            elif not pooling_config.get("pooling_mode_mean_tokens", True):
                raise ModelError(f"{model_dir}: the onnx backend supports mean or CLS pooling only")
        elif kind not in ("Transformer", "Normalize"):
            raise ModelError(f"{model_dir}: the onnx backend cannot export a {kind} module; use --backend torch")
    st_config = read_json(model_dir / "sentence_bert_config.json") or {}
    try:
        return {
            "dims": int(config["hidden_size"]),
            "hidden": int(config["hidden_size"]),
            "heads": int(config["num_attention_heads"]),
            "pad_id": int(config.get("pad_token_id") or 0),
            "max_seq_length": int(
                st_config.get("max_seq_length") or config.get("max_position_embeddings", 514) - 2
            ),
            "pooling": pooling,
        }
    except (KeyError, TypeError, ValueError) as error:
        raise ModelError(f"{model_dir}/config.json lacks {error}: cannot export it to ONNX") from None


# -------------------------------------------------------------------------------------------- helpers


def physical_cores() -> int:
    """Cores this process may run on, counting SMT siblings once."""
    try:
        allowed = os.sched_getaffinity(0)
    except AttributeError:  # not Linux
        return max(1, (os.cpu_count() or 2) // 2)
    cores = set()
    for cpu in allowed:
        siblings = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
        try:
            cores.add(siblings.read_text().strip())
        except OSError:
            cores.add(str(cpu))
    return max(1, len(cores))


def _model_dir(spec: ModelSpec) -> Path:
    path = Path(spec.location)
    if not path.is_dir():
        raise ModelError(
            f"the onnx backend needs a model on disk; {spec.name!r} is not (use --backend torch)"
        )
    return path


def _write_export(target: Path, build: Callable[[Path], None]) -> None:
    """`build(scratch)`, renamed onto `target` when complete: never a half-written model."""
    try:
        replace_atomically(target, build)
    finally:
        # The raw graph is written beside the scratch file (and onnx writes big models' weights beside
        # the graph as external data; ours stay under 2 GB): a failed export may leave them behind.
        for leftover in target.parent.glob(f".{target.name}.*"):
            leftover.unlink(missing_ok=True)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter's and quantizer's tracer warnings are about code we do not control."""
    import warnings

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def _require(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependency(f"the onnx backend needs {module}: pip install semplan") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
