"""Encoding throughput, quality and memory of every backend, against plain sentence-transformers.

Each engine runs in its own worker process (so its peak RSS — torch, onnxruntime and numpy allocate
natively, where tracemalloc is blind — is its own), loaded once and then driven pass by pass from here.
Passes are interleaved (baseline, engine 1, engine 2, ..., baseline, ...): on a machine shared with other
work the load drifts, and interleaving makes every engine see the same drift. A speed ratio is the median
over rounds of (engine rate / baseline rate in the same round).

Engines:
- `sentence-transformers`: plain `SentenceTransformer.encode(batch_size=32, normalize_embeddings=True)`
  on the same texts with the same "passage: " prompt — the baseline, measured in the same run;
- `torch`, `onnx`, `onnx-int8`, `openvino-int8` (when openvino is installed) and `auto` (the default
  backend, named in the table; the explicit engine it picks on this CPU is not run twice):
  `semplan.encode.Encoder` with the cache disabled, so each pass runs the model on every text;
- `use-multilingual` on the `use` backend, when that model is built (a different model: no cosine).

The achieved GFLOP/s counts 2 × non-embedding parameters per real (unpadded) token, plus attention's
QKᵀ and AV products (2 × 2 × tokens² × hidden per layer per text); the machine's fp32 peak is
cores × clock × 32 FLOPs/cycle (two 256-bit FMA units: 2 × 8 lanes × 2 FLOPs).

Every record carries the CPU kind (`vnni`: int8 dot-product instructions, AVX512-VNNI / AVX-VNNI / AMX;
`avx2`: AVX2 without them; `other`) and the load average while it ran. The CI guard compares the default
backend with the committed figure of the same CPU kind (benchmarks/baseline.json): a fast CPU must not
hide a regression and a slow one must not fail; a kind with no committed figure reports and passes.

    python -m benchmarks encode            # all 614 sample clauses, 3 rounds
    python -m benchmarks encode --quick    # 1 in 5 clauses, baseline and default backend only (CI guard)
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BATCH_SIZE = 32
QUICK_STRIDE = 5  # --quick encodes every 5th sample clause (~120)
BASELINE = "sentence-transformers"
# Engine name -> (model, backend) for the Encoder; the baseline is plain sentence-transformers.
ENGINES = {
    BASELINE: (None, None),
    "torch": (None, "torch"),
    "onnx": (None, "onnx"),
    "onnx-int8": (None, "onnx-int8"),
    "openvino-int8": (None, "openvino-int8"),
    "auto": (None, "auto"),
    "use-multilingual": ("use-multilingual", "use"),
}
QUICK_ENGINES = (BASELINE, "auto")
FP32_FLOPS_PER_CYCLE = 32  # AVX2 FMA: 2 units × 8 fp32 lanes × 2 (multiply + add)


def sample_texts(quick: bool = False) -> list[str]:
    """The matching text of every sample clause (every 5th when quick), in corpus order."""
    from semplan.data import sample_plan_paths
    from semplan.read import read_document
    from semplan.segment import segment_document

    clauses = [clause for path in sample_plan_paths() for clause in segment_document(read_document(path))]
    return [clause.match_text for clause in (clauses[::QUICK_STRIDE] if quick else clauses)]


# `--isa avx2`: what an AVX2-only CPU would run, on a CPU with more. oneDNN (OpenVINO's GEMMs, torch's),
# MKL (torch's sgemm) and ATen's own vectorised kernels (torch's softmax, GELU, layer norm) obey these.
# onnxruntime's MLAS picks its kernels from CPUID and XCR0 in MlasPlatform's constructor, with no run-time
# override (onnxruntime/core/mlas/lib/platform.cpp): its engines are marked unrestricted.
# OpenVINO's own JIT kernels (layer norm, eltwise, snippets) follow OV_CPU_MAX_ISA, oneDNN's inside it follow
# ONEDNN_MAX_CPU_ISA; the two must be set together. Each record's `kernels` shows what actually ran.
ISA_LIMITS = {
    "avx2": {
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "OV_CPU_MAX_ISA": "AVX2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        "ATEN_CPU_CAPABILITY": "avx2",
    }
}
UNRESTRICTABLE = ("onnx", "onnx-int8")


def run(
    quick: bool = False, repeats: int | None = None, engines: tuple[str, ...] | None = None, isa: str | None = None
) -> list[dict]:
    """One record per engine: clauses/s (median), ratio to baseline, cosine to fp32, peak RSS, GFLOP/s."""
    from semplan.models import DEFAULT_MODEL, is_built, resolve_model

    repeats = repeats or 3
    texts = sample_texts(quick)
    spec = resolve_model(DEFAULT_MODEL)
    if engines is None and isa:
        # "auto" would pick from the real CPU's flags; the limited run names every backend explicitly.
        engines = (BASELINE, "torch", "onnx", "onnx-int8", "openvino-int8")
    if engines is None:
        engines = QUICK_ENGINES if quick else tuple(name for name in ENGINES if _worth_running(name, spec, is_built))
    tokens = token_counts(spec, texts)

    with tempfile.TemporaryDirectory(prefix="semplan-bench-") as scratch:
        texts_file = Path(scratch) / "texts.json"
        texts_file.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        workers = {}
        try:
            for name in engines:  # one at a time: loading in parallel would only contend
                workers[name] = _Worker(name, texts_file, Path(scratch), ISA_LIMITS.get(isa or "", {}))
            rates: dict[str, list[float]] = {name: [] for name in workers}
            cpu_rates: dict[str, list[float]] = {name: [] for name in workers}
            loads: dict[str, list[float]] = {name: [] for name in workers}
            for _ in range(repeats):
                for name, worker in workers.items():
                    seconds, cpu_seconds = worker.run_pass()
                    rates[name].append(len(texts) / seconds)
                    cpu_rates[name].append(len(texts) / max(cpu_seconds, 1e-9))
                    loads[name].append(os.getloadavg()[0])
            finals = {name: worker.finish() for name, worker in workers.items()}
        finally:
            for worker in workers.values():
                worker.kill()
        reference = finals[BASELINE]["vectors"] if BASELINE in finals else None

        machine = machine_info()
        records = []
        for name, final in finals.items():
            rate = statistics.median(rates[name])
            record = {
                "benchmark": "encode",
                "engine": name,
                "backend": final["backend"],
                "texts": len(texts),
                "rounds": repeats,
                "cpu_kind": machine["cpu_kind"] if not isa else (
                    f"{isa} (limited)" if final["backend"] not in UNRESTRICTABLE else f"{machine['cpu_kind']} (MLAS: not limited)"
                ),
                "load_avg": round(statistics.median(loads[name]), 1),
                "clauses_per_s": round(rate, 1),
                "rates": [round(value, 1) for value in rates[name]],
                # Clauses per CPU-second of the worker's own threads: other processes' load hardly moves
                # it, so it is the steadier figure on a shared machine (spin-waiting threads count, too).
                "clauses_per_cpu_s": round(statistics.median(cpu_rates[name]), 1),
                "cpu_ratio_to_baseline": None,
                "ratio_to_baseline": None,
                "mean_cosine_to_fp32": None,
                "min_cosine_to_fp32": None,
                "peak_rss_mb": final["maxrss_mb"],
                "load_s": final["load_s"],
                "kernels": final["kernels"],
                "gflops": None,
                "share_of_fp32_peak": None,
            }
            if BASELINE in rates:
                paired = [mine / base for mine, base in zip(rates[name], rates[BASELINE], strict=True)]
                record["ratio_to_baseline"] = round(statistics.median(paired), 2)
                paired_cpu = [mine / base for mine, base in zip(cpu_rates[name], cpu_rates[BASELINE], strict=True)]
                record["cpu_ratio_to_baseline"] = round(statistics.median(paired_cpu), 2)
            same_model = ENGINES[name][0] is None
            if reference is not None and same_model:
                cosine = (final["vectors"] * reference).sum(axis=1)
                record["mean_cosine_to_fp32"] = round(float(cosine.mean()), 4)
                record["min_cosine_to_fp32"] = round(float(cosine.min()), 4)
            if same_model:
                gflop = encoder_flops(spec, tokens) / 1e9
                record["gflops"] = round(gflop * rate / len(texts), 1)
                record["share_of_fp32_peak"] = round(record["gflops"] / machine["fp32_peak_gflops"], 2)
            records.append(record)
    return records


def check(records: list[dict], baseline_file: Path, cpu_kind: str | None = None) -> str | None:
    """None when the default backend holds its committed speed ratio (≥ 70%) and cosine (≥ 0.99); else why.

    The committed ratio is the one for this CPU kind (`vnni`, `avx2`); a kind with none committed is
    only reported (`committed_ratio` says which), never a failure.
    """
    try:
        committed = json.loads(baseline_file.read_text(encoding="utf-8"))["encode"]
        kinds = committed["by_cpu_kind"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"cannot read the committed figures in {baseline_file}: {error}"
    default = next((record for record in records if record["engine"] == "auto"), None)
    if default is None or default["ratio_to_baseline"] is None:
        return "the default backend and the baseline were not both measured"
    if default["mean_cosine_to_fp32"] is None or default["mean_cosine_to_fp32"] < 0.99:
        return f"default backend {default['backend']} mean cosine to fp32 is {default['mean_cosine_to_fp32']}, below 0.99"
    kind = cpu_kind or default.get("cpu_kind") or machine_info()["cpu_kind"]
    if kind not in kinds:
        return None
    try:
        committed_ratio = float(kinds[kind]["quick_ratio_to_baseline"])
    except (KeyError, TypeError, ValueError) as error:
        return f"cannot read the committed {kind} figures in {baseline_file}: {error}"
    floor = 0.7 * committed_ratio
    if default["ratio_to_baseline"] < floor:
        return (
            f"default backend {default['backend']} is {default['ratio_to_baseline']:.2f}x sentence-transformers on a "
            f"{kind} CPU, below 70% of the committed {committed_ratio:.2f}x ({floor:.2f}x)"
        )
    return None


def committed_ratio(baseline_file: Path, cpu_kind: str) -> float | None:
    """The committed quick ratio for this CPU kind, or None (then the guard only reports)."""
    try:
        return float(json.loads(baseline_file.read_text(encoding="utf-8"))["encode"]["by_cpu_kind"][cpu_kind]["quick_ratio_to_baseline"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _worth_running(engine: str, spec, is_built) -> bool:
    """Every engine that can run here, except the explicit twin of what "auto" picks (it would run twice)."""
    from semplan.backends import auto_backend_name

    if engine == "use-multilingual":
        return is_built("use-multilingual")
    if engine == "openvino-int8":
        from semplan.backends import openvino

        if not openvino.available():
            return False
    return engine in (BASELINE, "auto") or ENGINES[engine][1] != auto_backend_name(spec)


# ------------------------------------------------------------------------------------- FLOPs, machine


def token_counts(spec, texts: list[str]) -> list[int]:
    """Real tokens per prompted text (with <s> and </s>), as the model sees them."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(spec.location) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=512)
    prompt = spec.prompts.get("passage", "")
    return [len(encoding.ids) for encoding in tokenizer.encode_batch([prompt + text for text in texts])]


def encoder_flops(spec, tokens: list[int]) -> float:
    """Multiply-adds × 2 of a BERT-layout encoder over texts of these token counts (padding not counted)."""
    config = json.loads((Path(spec.location) / "config.json").read_text(encoding="utf-8"))
    hidden, ffn, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    # Q, K, V, output projections and the two FFN matrices, with biases; layer norms are noise.
    per_layer_params = 4 * (hidden * hidden + hidden) + 2 * hidden * ffn + ffn + hidden
    non_embedding = layers * per_layer_params
    total = 0.0
    for n in tokens:
        total += 2 * non_embedding * n + layers * 2 * 2 * n * n * hidden
    return total


def machine_info() -> dict:
    """CPU model, cores, clock, SIMD flags and the fp32 peak they imply."""
    cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace") if Path("/proc/cpuinfo").exists() else ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    from semplan.backends.onnx import physical_cores

    cores = physical_cores()
    ghz = float(fields.get("cpu MHz", "0") or 0) / 1000
    max_mhz = _lscpu_field("CPU max MHz")
    if max_mhz:
        ghz = float(max_mhz) / 1000
    return {
        "cpu": fields.get("model name", "unknown"),
        "cores": cores,
        "ghz": round(ghz, 3),
        "simd": " ".join(
            flag for flag in ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_int8") if flag in flags
        ),
        "cpu_kind": cpu_kind(flags),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "fp32_peak_gflops": round(cores * ghz * FP32_FLOPS_PER_CYCLE, 1),
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }


def cpu_kind(flags: set[str] | frozenset[str]) -> str:
    """`vnni` (int8 dot-product instructions), `avx2` (AVX2 without them) or `other`: what int8 speed depends on."""
    from semplan.backends import INT8_DOT_FLAGS

    if INT8_DOT_FLAGS & set(flags):
        return "vnni"
    return "avx2" if "avx2" in flags else "other"


def _lscpu_field(name: str) -> str | None:
    try:
        output = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in output.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None


# -------------------------------------------------------------------------------------------- re-index


def run_reindex(quick: bool = False) -> list[dict]:
    """Index the sample corpus cold (fresh embedding cache), then again: unchanged, and into a new index.

    The model is loaded before the clock starts in every case, so the figures compare indexing work
    (read, segment, encode or look up, write SQLite and FAISS), not process start-up.
    """
    from semplan.data import sample_plan_paths
    from semplan.encode import Encoder
    from semplan.ingest import index_paths
    from semplan.store import Corpus

    paths = sample_plan_paths()
    records = []
    with tempfile.TemporaryDirectory(prefix="semplan-reindex-") as scratch:
        root = Path(scratch)
        encoder = Encoder(backend="auto", cache_path=root / "embeddings.sqlite", progress=False)
        started = time.perf_counter()
        corpus = Corpus.create(root / "cold", encoder.identity())
        cold_report = index_paths(corpus, paths, encoder=encoder)
        cold = time.perf_counter() - started

        timings = {}
        for attempt in range(1 if quick else 3):
            started = time.perf_counter()
            unchanged_report = index_paths(corpus, paths, encoder=encoder)
            timings.setdefault("unchanged", []).append(time.perf_counter() - started)
            started = time.perf_counter()
            fresh = Corpus.create(root / f"warm-{attempt}", encoder.identity())
            warm_report = index_paths(fresh, paths, encoder=encoder)
            timings.setdefault("new_index", []).append(time.perf_counter() - started)
            fresh.close()
        corpus.close()
        encoder.close()

    def record(case: str, seconds: float, report) -> dict:
        return {
            "benchmark": "reindex",
            "case": case,
            "backend": encoder.backend_name,
            "plans": len(paths),
            "clauses": report.clauses_written or cold_report.clauses_written,
            "texts_encoded": report.texts_encoded,
            "seconds": round(seconds, 3),
            "speedup_vs_cold": round(cold / seconds, 1) if case != "cold" else 1.0,
        }

    records.append(record("cold", cold, cold_report))
    records.append(record("warm: same index, unchanged files", statistics.median(timings["unchanged"]), unchanged_report))
    records.append(record("warm: new index, warm cache", statistics.median(timings["new_index"]), warm_report))
    return records


# -------------------------------------------------------------------------------------------- memory


def run_memory(quick: bool = False) -> list[dict]:
    """Peak RSS of the default encoder over growing streams of distinct texts: flat means it streams."""
    sizes = (300, 1_200) if quick else (600, 4_800)
    records = []
    for n_texts in sizes:
        child = subprocess.run(
            [sys.executable, "-m", "benchmarks.encode", "--memory", str(n_texts)],
            capture_output=True,
            text=True,
            env=dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1"),
            cwd=Path(__file__).resolve().parent.parent,
        )
        if child.returncode != 0:
            raise RuntimeError(f"memory worker for {n_texts} texts failed: {child.stderr.strip()[-300:]}")
        records.append(json.loads(child.stdout.strip().splitlines()[-1]))
    return records


def _memory_main(n_texts: int) -> None:
    """Child side: encode `n_texts` distinct clause texts from a generator (never a list), cache off."""
    from semplan.encode import Encoder

    texts = sample_texts()
    encoder = Encoder(backend="auto", cache_path=None, progress=False)
    encoder.encode_passages(texts[:BATCH_SIZE])
    after_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # A numbered suffix makes every text distinct, so nothing is deduplicated away.
    stream = (f"{texts[i % len(texts)]}（{i // len(texts)}）" for i in range(n_texts))
    started = time.perf_counter()
    vectors = encoder.encode_passages(stream)
    seconds = time.perf_counter() - started
    _say(
        {
            "benchmark": "memory",
            "backend": encoder.backend_name,
            "texts": n_texts,
            "vectors_mb": round(vectors.nbytes / 2**20, 1),
            "rss_after_load_mb": round(after_load),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "clauses_per_s": round(n_texts / seconds, 1),
        }
    )


# -------------------------------------------------------------------------------------------- workers


class _Worker:
    """A child process holding one loaded engine; `run_pass` encodes all texts once and returns seconds."""

    def __init__(self, engine: str, texts_file: Path, scratch: Path, extra_env: dict[str, str] | None = None):
        self.engine = engine
        self.vectors_file = scratch / f"{engine}.npy"
        env = dict(
            os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_PROGRESS_BARS="1", **(extra_env or {})
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.encode", "--worker", engine, str(texts_file)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=Path(__file__).resolve().parent.parent,
        )
        self.ready = self._read()

    def run_pass(self) -> tuple[float, float]:
        """Wall seconds and CPU seconds (all the worker's threads) of one pass."""
        answer = self._ask("run")
        return answer["seconds"], answer["cpu_seconds"]

    def finish(self) -> dict:
        final = self._ask(f"finish {self.vectors_file}")
        final["vectors"] = np.load(self.vectors_file)
        final["backend"] = self.ready["backend"]
        final["load_s"] = self.ready["load_s"]
        final["kernels"] = self.ready["kernels"]
        self.process.wait(timeout=30)
        return final

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def _ask(self, command: str) -> dict:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._read()

    def _read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            raise RuntimeError(f"benchmark worker {self.engine!r} died (exit {self.process.returncode}); see stderr")
        return json.loads(line)


def _worker_main(engine: str, texts_file: str) -> None:
    """Child side: load the engine, report, then obey `run` / `finish PATH` from stdin."""
    texts = json.loads(Path(texts_file).read_text(encoding="utf-8"))
    started = time.perf_counter()
    if engine == BASELINE:
        from sentence_transformers import SentenceTransformer

        from semplan.models import DEFAULT_MODEL, resolve_model

        spec = resolve_model(DEFAULT_MODEL)
        model = SentenceTransformer(spec.location, device="cpu")
        prompt = spec.prompts.get("passage", "")

        def encode() -> np.ndarray:
            return model.encode(
                [prompt + text for text in texts],
                batch_size=BATCH_SIZE,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )

        backend_name = "torch fp32 (plain)"
        warm = texts[:BATCH_SIZE]
        model.encode([prompt + text for text in warm], batch_size=BATCH_SIZE, show_progress_bar=False)
    else:
        from semplan.encode import Encoder
        from semplan.models import DEFAULT_MODEL

        model_name, backend = ENGINES[engine]
        encoder = Encoder(model=model_name or DEFAULT_MODEL, backend=backend, cache_path=None, progress=False)

        def encode() -> np.ndarray:
            return encoder.encode_passages(texts)

        backend_name = encoder.backend_name
        encoder.encode_passages(texts[:BATCH_SIZE])
    load_s = round(time.perf_counter() - started, 2)
    _say({"backend": backend_name, "load_s": load_s, "kernels": kernels_used(model if engine == BASELINE else encoder.backend)})
    vectors = None
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "run":
            started, cpu_started = time.perf_counter(), _cpu_seconds()
            vectors = encode()
            _say({"seconds": time.perf_counter() - started, "cpu_seconds": _cpu_seconds() - cpu_started})
        elif command == "finish":
            np.save(argument, np.asarray(vectors if vectors is not None else encode(), dtype=np.float32))
            # Linux reports ru_maxrss in KiB.
            _say({"maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)})
            return


def kernels_used(engine) -> str:
    """What the engine's compute runs on, read back from the engine (evidence that an --isa limit took):
    OpenVINO's primitive per layer type after a run, ATen's dispatch level for torch, MLAS for onnxruntime."""
    compiled = getattr(engine, "_compiled", None)
    if compiled is not None:
        kinds: dict[str, set[str]] = {}
        for op in compiled.get_runtime_model().get_ordered_ops():
            info = op.get_rt_info()
            layer, primitive = info["layerType"].astype(str), info["primitiveType"].astype(str)
            if layer in ("FullyConnected", "MatMul", "MVN", "Eltwise", "Subgraph", "Softmax"):
                kinds.setdefault(layer, set()).add(primitive)
        return "; ".join(f"{layer} {'/'.join(sorted(names))}" for layer, names in sorted(kinds.items()))
    if getattr(engine, "session", None) is not None:
        return "onnxruntime MLAS (from CPUID)"
    if getattr(engine, "name", None) == "use":
        return "numpy"
    import torch

    return f"torch ATen {torch.backends.cpu.get_cpu_capability()}"


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _say(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--memory":
        _memory_main(int(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "--worker":
        # Libraries may print to stdout (progress, notices); keep the protocol channel clean.
        protocol = os.dup(1)
        os.dup2(2, 1)
        sys.stdout = os.fdopen(protocol, "w")
        _worker_main(sys.argv[2], sys.argv[3])
    else:
        from benchmarks.__main__ import main

        sys.exit(main(["encode", *sys.argv[1:]]))
