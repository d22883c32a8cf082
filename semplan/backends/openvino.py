"""OpenVINO static int8 ("openvino-int8"): activations quantized with scales calibrated once, not per batch.

Dynamic int8 (semplan/backends/onnx.py) picks its activation scales from each run's tensors, so a
text's vector depends on its batch mates. Here NNCF calibrates every activation scale once, on a fixed,
committed set of public-report clauses (semplan/data/calibration/, package data), and the scales are constants of the
exported graph. What is still shape-dependent is the kernels' float arithmetic: the same text padded to
different widths comes out different in the last bits (up to 3e-3 measured). So each text is padded to
a width that depends on its own length only (`padded_width`), and only texts of the same width share a
run: a vector is then bit-identical whatever else is encoded with it, in any order or batch size.

The word-embedding table (96 M of the model's 118 M parameters) stays outside the graph, as int8 rows
with one scale each, memory-mapped and gathered with numpy: inside an NNCF-quantized graph the CPU
plugin unpacks it to a 384 MB float32 constant. The graph starts from the embedded tokens.

The export is made once per model revision, recipe version and calibration set, beside the model
(`MODEL_DIR/openvino/…`) or under the semplan cache directory for a read-only model, in a staged
directory renamed into place under a lock. The measurements behind the choices: docs/models-design.md.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from semplan._fs import cache_dir, exclusive_lock, staged_dir
from semplan.backends.onnx import MAX_TOKENS, _first_line, _quiet, physical_cores, pooled, read_layout
from semplan.errors import MissingDependency, ModelError

if TYPE_CHECKING:
    from semplan.models import Log, ModelSpec

logger = logging.getLogger(__name__)

NAME = "openvino-int8"
# Bump when the export recipe changes (graph, quantizer settings, table format): old exports are ignored.
EXPORT_FORMAT = 1
GRAPH_FILE = "model.xml"  # and model.bin beside it
TABLE_FILE = "embeddings-int8.npy"
SCALES_FILE = "embedding-scales.npy"
# Rows per run, and tokens per run: long texts go in fewer rows, so the plugin's buffers, sized to
# the largest run it has seen, stay near those of a 16 × 64-token run. Each of the compiled model's
# streams (one per core) takes one run at a time.
BATCH_SIZE = 16
TOKENS_PER_RUN = 1024
# Texts the Encoder should hand over per call: calls of 32 leave runs part-filled (3-4 widths among 32
# texts) and a stream idle at each call's end; 256 encoded the sample clauses ~35% faster (measured:
# docs/models-design.md). It is also the Encoder's cache commit unit.
TEXTS_PER_CALL = 256
# The committed calibration set; its sha256 is part of the export's directory name.
# Package data, so an installed wheel can make the export too.
CALIBRATION_FILE = Path(__file__).resolve().parents[1] / "data" / "calibration" / "clauses.txt"


def available() -> bool:
    """openvino and tokenizers are installed (making the export also needs nncf, onnx, torch, transformers)."""
    return all(importlib.util.find_spec(name) is not None for name in ("openvino", "tokenizers"))


def padded_width(tokens: int) -> int:
    """The run width of a text of `tokens` tokens: a function of its own length only.

    Steps of 8 up to 64 tokens (the sample clauses' median is ~30), 16 up to 128, 32 above: at most
    ~20% padding, and few distinct shapes (each shape the CPU plugin meets costs it a compiled kernel).
    """
    step = 8 if tokens <= 64 else 16 if tokens <= 128 else 32
    return -(-tokens // step) * step


class OpenVinoBackend:
    """A compiled OpenVINO model with one stream per core; `embed` groups texts by padded width."""

    name = NAME
    texts_per_call = TEXTS_PER_CALL

    def __init__(self, compiled, tokenizer, table: np.ndarray, scales: np.ndarray, dims: int, pad_id: int):
        ov = _require("openvino")
        self.tokenizer = tokenizer
        self.dims = dims
        self.pad_id = pad_id
        self.batch_size = BATCH_SIZE
        self._table = table
        self._scales = scales
        self._compiled = compiled
        self._queue = ov.AsyncInferQueue(compiled, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        self._queue.set_callback(_store_output)

    def embed(self, texts: list[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dims), dtype=np.float32)
        if not texts:
            return vectors
        token_ids = [encoding.ids for encoding in self.tokenizer.encode_batch(list(texts))]
        rows_by_width: dict[int, list[int]] = {}
        for row in sorted(range(len(texts)), key=lambda row: len(token_ids[row])):
            rows_by_width.setdefault(padded_width(len(token_ids[row])), []).append(row)
        for width, rows in rows_by_width.items():
            size = max(1, min(self.batch_size, TOKENS_PER_RUN // width))
            for start in range(0, len(rows), size):
                batch = rows[start : start + size]
                self._queue.start_async(self._inputs([token_ids[row] for row in batch], width), (vectors, batch))
        self._queue.wait_all()
        # The graph normalises already; doing it again in float32 keeps rows unit-length to the last bit.
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.divide(vectors, np.maximum(norms, 1e-12), out=vectors)

    def _inputs(self, token_ids: list[list[int]], width: int) -> dict[str, np.ndarray]:
        ids = np.full((len(token_ids), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(token_ids), width), dtype=np.int64)
        for row, row_ids in enumerate(token_ids):
            ids[row, : len(row_ids)] = row_ids
            mask[row, : len(row_ids)] = 1
        return {"inputs_embeds": embed_tokens(self._table, self._scales, ids), "attention_mask": mask}


def _store_output(request, userdata) -> None:
    vectors, rows = userdata
    vectors[rows] = request.get_output_tensor(0).data


def embed_tokens(table: np.ndarray, scales: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Word embeddings of `ids` from the int8 table: row × its scale, float32 (batch, width, hidden)."""
    embedded = table[ids].astype(np.float32)
    embedded *= scales[ids][..., None]
    return embedded


def load(spec: ModelSpec, threads: int | None = None, log: Log | None = None) -> OpenVinoBackend:
    """A ready backend for `spec`: exported and calibrated on first use, reused afterwards."""
    ov = _require("openvino")
    tokenizers = _require("tokenizers")
    model_dir = _model_dir(spec)
    layout = read_layout(model_dir)
    export = ensure_export(spec, log=log)
    cores = threads or physical_cores()
    config = {
        # Several runs in flight, one per stream, each on its own core: a 16 × ~30-token run is too
        # small to split across cores (the same reason onnx.py runs one single-threaded session per core).
        "PERFORMANCE_HINT": "THROUGHPUT",
        "NUM_STREAMS": str(cores),
        "INFERENCE_NUM_THREADS": str(cores),
        # float32 between the int8 layers, never bf16: a bf16-capable CPU would otherwise give other
        # vectors than one without, and the cosine to fp32 drops.
        "INFERENCE_PRECISION_HINT": "f32",
        # Compiled kernels kept per run shape (default 5,000): 32 encoded 4,800 texts in 845 MB instead of
        # 960 at no measurable loss of speed; 8 was 20-25% slower (docs/models-design.md).
        "CPU_RUNTIME_CACHE_CAPACITY": "32",
    }
    try:
        compiled = ov.Core().compile_model(str(export / GRAPH_FILE), "CPU", config)
        table = np.load(export / TABLE_FILE, mmap_mode="r")
        scales = np.load(export / SCALES_FILE)
    except Exception as error:  # openvino raises RuntimeError subclasses of its own
        raise ModelError(
            f"cannot load the OpenVINO export {export}: {_first_line(error)}; delete {export} to re-export"
        ) from None
    tokenizer = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()  # padding is per width group (padded_width)
    tokenizer.enable_truncation(max_length=min(MAX_TOKENS, layout["max_seq_length"]))
    return OpenVinoBackend(compiled, tokenizer, table, scales, layout["dims"], pad_id=layout["pad_id"])


# --------------------------------------------------------------------------------------------- export


def calibration_texts() -> list[str]:
    """The committed calibration clauses (public government reports, never the evaluation sets)."""
    try:
        return [line for line in CALIBRATION_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError:
        raise ModelError(
            f"the {NAME} backend needs its calibration set {CALIBRATION_FILE} to make its export; "
            "use --backend onnx-int8"
        ) from None


def export_dir(spec: ModelSpec) -> Path:
    """Where `spec`'s export lives: in the model directory when writable, else in the semplan cache."""
    model_dir = _model_dir(spec)
    calibration = hashlib.sha256(CALIBRATION_FILE.read_bytes()).hexdigest()[:8] if CALIBRATION_FILE.is_file() else "none"
    leaf = f"{spec.revision}-v{EXPORT_FORMAT}-{calibration}"
    if os.access(model_dir, os.W_OK) or (model_dir / "openvino" / leaf).is_dir():
        return model_dir / "openvino" / leaf
    return cache_dir() / "openvino" / f"{model_dir.name}-{leaf}"


def ensure_export(spec: ModelSpec, log: Log | None = None) -> Path:
    """The directory of `spec`'s calibrated int8 export, made first if it is not there."""
    target = export_dir(spec)
    if (target / GRAPH_FILE).is_file():
        return target
    texts = calibration_texts()
    for module in ("nncf", "onnx", "torch", "transformers"):
        _require(module)
    log = log or logger.info
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ModelError(f"cannot create {target.parent} for the OpenVINO export: {error.strerror}") from None
    with exclusive_lock(target.parent / f".{target.name}.lock", what=f"the OpenVINO export of {spec.name}"):
        if (target / GRAPH_FILE).is_file():
            return target
        log(f"calibrating {spec.name} to static int8 for OpenVINO (once per model revision; a minute or two)")
        with staged_dir(target, suffix=".build", replace=True) as staging:
            export_int8(_model_dir(spec), staging, texts, spec.prompts or {})
    return target


def export_int8(model_dir: Path, out: Path, texts: list[str], prompts: dict[str, str]) -> None:
    """Graph from the embedded tokens to the normalised vector, int8 with calibrated scales, into `out`.

    The calibration runs each clause alone (no padding) with the "passage" and "query" prompts in
    turn, so the scales see both prompts the Encoder uses; ModelType.TRANSFORMER keeps the quantizers
    out of the places where e5 loses accuracy (without it the cosine to fp32 fell to 0.89).
    """
    torch = _require("torch")
    transformers = _require("transformers")
    ov = _require("openvino")
    nncf = _require("nncf")
    layout = read_layout(model_dir)
    try:
        model = transformers.AutoModel.from_pretrained(str(model_dir), attn_implementation="eager")
    except Exception as error:
        raise ModelError(f"cannot load {model_dir} with transformers for export: {_first_line(error)}") from None
    model.eval()
    weights = model.get_input_embeddings().weight.detach().float().numpy()
    scales = (np.abs(weights).max(axis=1) / 127.0).astype(np.float32)
    scales[scales == 0] = 1.0
    table = np.clip(np.rint(weights / scales[:, None]), -127, 127).astype(np.int8)
    np.save(out / TABLE_FILE, table)
    np.save(out / SCALES_FILE, scales)

    raw = out / "raw.onnx"
    hidden = layout["hidden"]
    with torch.no_grad(), _quiet():
        torch.onnx.export(
            _EmbeddedEncoder(model, layout["pooling"], torch),
            (torch.zeros((2, 4, hidden)), torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=torch.long)),
            str(raw),
            input_names=["inputs_embeds", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={
                "inputs_embeds": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "embedding": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )
    del model
    tokenizer = _require("tokenizers").Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=min(MAX_TOKENS, layout["max_seq_length"]))
    role_prompts = [prompts.get("passage", ""), prompts.get("query", "")]
    prompted = [role_prompts[index % 2] + text for index, text in enumerate(texts)]
    samples = []
    for encoding in tokenizer.encode_batch(prompted):
        ids = np.array([encoding.ids], dtype=np.int64)
        samples.append({"inputs_embeds": embed_tokens(table, scales, ids), "attention_mask": np.ones_like(ids)})
    with _quiet():
        graph = ov.convert_model(str(raw))
        quantized = nncf.quantize(
            graph, nncf.Dataset(samples), model_type=nncf.ModelType.TRANSFORMER, subset_size=len(samples)
        )
        ov.save_model(quantized, str(out / GRAPH_FILE), compress_to_fp16=False)
    raw.unlink()


def _EmbeddedEncoder(model, pooling: str, torch):  # noqa: N802 - builds a torch.nn.Module lazily (torch optional)
    """The transformer from `inputs_embeds` on, with pooling and L2 normalisation.

    Given embeddings, BERT and XLM-R number positions 0.. (plus XLM-R's padding offset) without
    looking at padding, which is what the token ids would give for right-padded rows.
    """

    class EmbeddedEncoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, inputs_embeds, attention_mask):
            hidden = self.model(inputs_embeds=inputs_embeds, attention_mask=attention_mask).last_hidden_state
            return pooled(hidden, attention_mask, pooling, torch)

    return EmbeddedEncoder()


def _require(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependency(f"the {NAME} backend needs {module}: pip install 'semplan[openvino]'") from None


def _model_dir(spec: ModelSpec) -> Path:
    path = Path(spec.location)
    if not path.is_dir():
        raise ModelError(f"the {NAME} backend needs a model on disk; {spec.name!r} is not (use --backend torch)")
    return path
