"""Build the 10k news-headline clustering benchmark (kept out of the repository).

THUCNews (Tsinghua NLP lab's news corpus, 14 classes) as redistributed by
649453932/Chinese-Text-Classification-Pytorch (MIT): 200k headlines of 20–30 characters in 10
balanced classes, split train / dev / test. The benchmark is its test split: 10,000 headlines,
1,000 per class (finance, realty, stocks, education, science, society, politics, sports, game,
entertainment). `tests/data/clustering/thucnews-dev-1000.tsv`, committed, is 100 headlines a
class of the dev split, so the two never share a headline.

    python -m benchmarks.thucnews                  # download, check, write benchmarks/data/thucnews-test-10k.tsv
    python -m benchmarks.thucnews --from test.txt  # from a copy of THUCNews/data/test.txt
    semplan eval clustering benchmarks/data/thucnews-test-10k.tsv --runs 1

The output is `semplan eval clustering`'s format (`text<TAB>label`). Figures:
docs/quality.md and docs/clustering-design.md.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import urllib.request
from pathlib import Path

REPOSITORY = "649453932/Chinese-Text-Classification-Pytorch"
COMMIT = "6cb26819af7b646275aff8a4693676f2849e67f6"
SOURCE_URL = f"https://raw.githubusercontent.com/{REPOSITORY}/{COMMIT}/THUCNews/data/test.txt"
SOURCE_SHA256 = "ebecc8c896635ad69730083ca7b81d37c42c9a5779bc05c9d2479d894e34f026"
CLASSES = ("finance", "realty", "stocks", "education", "science", "society", "politics", "sports", "game", "entertainment")
OUT = Path(__file__).resolve().parent / "data" / "thucnews-test-10k.tsv"


def labelled_lines(raw: bytes) -> list[str]:
    """`title<TAB>class number` lines → `title<TAB>class name` lines."""
    lines = []
    for line in raw.decode("utf-8").splitlines():
        if line.strip():
            title, number = line.rsplit("\t", 1)
            lines.append(f"{title.strip()}\t{CLASSES[int(number)]}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.thucnews", description=__doc__.split("\n")[0])
    parser.add_argument("--from", dest="source", type=Path, help="a local copy of THUCNews/data/test.txt")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.source is not None:
        raw = args.source.read_bytes()
    else:
        with urllib.request.urlopen(SOURCE_URL, timeout=60) as response:  # noqa: S310 (a fixed https URL)
            raw = response.read()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SOURCE_SHA256:
        print(f"unexpected content (sha256 {digest}, expected {SOURCE_SHA256})", file=sys.stderr)
        return 1
    lines = labelled_lines(raw)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({len(lines)} headlines)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
