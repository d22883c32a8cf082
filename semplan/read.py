"""bytes → text: plain text in any of the encodings Chinese plans come in, .docx, .html and .pdf.

Every reader returns a `Document` whose `text` is the string that clause spans index into, so
whatever a reader does to the bytes (decoding, dropping HTML navigation and page numbers) happens
here, once, before any offset is taken. Readers do not decide which line breaks are soft: a PDF's
lines are handed over as extracted, and `semplan.segment` recovers the line structure of every
kind of text the same way. Tables are written as pipe rows (`| cell | cell |`), one row a line.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import logging
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from semplan.errors import InputError, SemplanError

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt", ".text")
SUPPORTED_SUFFIXES = (*TEXT_SUFFIXES, ".docx", ".html", ".htm", ".pdf")
# The longest plan seen is well under 1 MB of text; a file this large is not a plan, and reading it
# whole would only exhaust memory.
MAX_FILE_BYTES = 256 * 1024 * 1024
# Binary office formats plans are often sent in, with what to convert them to.
_LEGACY_SUFFIXES = {".doc": ".docx", ".wps": ".docx", ".rtf": ".docx", ".xls": ".xlsx or .txt",
                    ".ppt": ".pdf", ".odt": ".docx", ".ofd": ".pdf"}


@dataclass(frozen=True)
class Document:
    plan_id: str
    path: Path | None
    text: str  # decoded source; every Clause span indexes into this string
    sha256: str  # of the raw file bytes
    encoding: str  # detected encoding, or the format ("docx", "pdf", ...)


def read_document(path: str | Path, plan_id: str | None = None) -> Document:
    """Read one plan file; the plan id is the file stem unless given.

    Raises `InputError` (one line, naming the file) for a missing, empty, binary or unreadable file.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory (pass it to iter_documents to read the plans inside)")
    plan_id = check_plan_id(plan_id if plan_id is not None else path.stem, path)
    try:
        status = path.stat()
        # A FIFO would block the read forever, a device (/dev/zero) never ends.
        if not stat.S_ISREG(status.st_mode):
            raise InputError(f"{path}: not a regular file (a pipe, device or socket); give a plan file")
        if status.st_size > MAX_FILE_BYTES:
            raise InputError(f"{path}: {status.st_size / 2**20:.0f} MB is too large for a plan (limit {MAX_FILE_BYTES // 2**20} MB)")
        raw = path.read_bytes()
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror or error})") from error
    if not raw.strip():
        raise InputError(f"{path}: empty file")

    suffix = path.suffix.lower()
    if suffix in _LEGACY_SUFFIXES:
        raise InputError(f"{path}: {suffix} files cannot be read; save it as {_LEGACY_SUFFIXES[suffix]} first")
    if suffix == ".docx":
        text, encoding = _docx_text(raw, path), "docx"
    elif suffix in (".html", ".htm"):
        text, encoding = _html_text(raw, path), "html"
    elif suffix == ".pdf":
        text, encoding = _pdf_text(raw, path), "pdf"
    else:
        # Unknown suffixes are tried as text: a plan saved as `.utf8` or with no suffix is still a
        # plan, and binary input is caught by decode_text. But a README is not: say so.
        if suffix not in TEXT_SUFFIXES:
            logger.warning("%s: not a known plan type (%s); read as plain text", path, ", ".join(SUPPORTED_SUFFIXES))
        text, encoding = decode_text(raw, path)
    if not text.strip():
        raise InputError(f"{path}: no text found")
    return Document(plan_id, path, text, hashlib.sha256(raw).hexdigest(), encoding)


def check_plan_id(plan_id: str, path: Path | None = None) -> str:
    """A plan id names a plan in clause ids (`plan#n`), file names and reports."""
    where = f"{path}: " if path is not None else ""
    if not plan_id or not plan_id.strip():
        raise InputError(f"{where}empty plan id")
    if "#" in plan_id or any(ch in plan_id for ch in "\n\r\t") or plan_id != plan_id.strip():
        raise InputError(f"{where}plan id {plan_id!r} may not contain '#', tabs, newlines or edge spaces")
    return plan_id


def _directory_files(directory: Path) -> tuple[list[Path], list[str]]:
    """The plan files directly inside `directory`, sorted, and the names of the other files it skips."""
    entries = sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))
    files = [p for p in entries if p.suffix.lower() in SUPPORTED_SUFFIXES]
    return files, [p.name for p in entries if p.suffix.lower() not in SUPPORTED_SUFFIXES]


def count_plan_files(paths: Iterable[str | Path]) -> int:
    """How many files `iter_documents(paths)` will read (a directory: the plan files inside it)."""
    total = 0
    for path in map(Path, paths):
        try:
            total += len(_directory_files(path)[0]) if path.is_dir() else 1
        except OSError:  # unreadable: iter_documents reports it
            total += 1
    return total


def iter_documents(
    paths: Iterable[str | Path],
    keep_going: bool = False,
    on_error: Callable[[Path, InputError], None] | None = None,
    plan_ids: Iterable[str | None] | None = None,
) -> Iterator[Document]:
    """Read plans one by one; a directory expands to the supported files directly inside it, sorted.

    With `keep_going`, a file that cannot be read is passed to `on_error(path, error)` and skipped;
    without it the first error is raised. `plan_ids`, when given, pairs one id with each path
    (None keeps the file stem); it cannot be combined with directories.
    """
    seen: dict[str, Path] = {}
    for file, file_plan_id in plan_files(paths, keep_going, on_error, plan_ids):
        try:
            document = read_document(file, file_plan_id)
            if document.plan_id in seen:
                raise InputError(
                    f"{file}: plan id {document.plan_id!r} already used by {seen[document.plan_id]}"
                    " (give another with --plan-id)"
                )
        except SemplanError as error:  # with --keep-going, no single file stops the run
            _fail(error, file, keep_going, on_error)
            continue
        seen[document.plan_id] = file
        yield document


def plan_files(
    paths: Iterable[str | Path],
    keep_going: bool = False,
    on_error: Callable[[Path, InputError], None] | None = None,
    plan_ids: Iterable[str | None] | None = None,
) -> Iterator[tuple[Path, str | None]]:
    """The (file, plan id or None) pairs `iter_documents` reads, without reading them: directories
    expand to the supported files directly inside them, sorted (for readers that run elsewhere)."""
    paths = [Path(p) for p in paths]
    ids = list(plan_ids) if plan_ids is not None else [None] * len(paths)
    if len(ids) != len(paths):
        raise InputError(f"{len(ids)} plan ids given for {len(paths)} paths")
    for path, plan_id in zip(paths, ids, strict=True):
        if not path.is_dir():
            yield path, plan_id
            continue
        if plan_id is not None:
            raise InputError(f"{path}: a plan id cannot be given for a directory")
        files, skipped = _directory_files(path)
        if skipped:
            logger.info("%s: skipped %d file(s) of other types: %s", path, len(skipped), ", ".join(skipped))
        if not files:
            _fail(InputError(f"{path}: no plan files ({', '.join(SUPPORTED_SUFFIXES)}) inside"),
                  path, keep_going, on_error)
        yield from ((file, None) for file in files)


def _fail(error: SemplanError, path: Path, keep_going: bool, on_error) -> None:
    if not keep_going:
        raise error
    if on_error is not None:
        on_error(path, error)


# --- plain text -------------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CHINESE_FIRST = ["gb18030", "big5", "cp950", "big5hkscs", "utf_8", "cp1252"]
# Control characters other than tab, newline, carriage return and form feed: text never has many.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def decode_text(raw: bytes, path: Path | str = "<bytes>") -> tuple[str, str]:
    """Decode plain-text bytes; returns (text, encoding name). Binary data raises InputError."""
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            try:
                return _checked(raw.decode(encoding, errors="strict"), encoding, path, raw)
            except UnicodeDecodeError:
                if bom == codecs.BOM_UTF32_LE:  # FF FE 00 00 is also UTF-16's mark before a NUL
                    continue
                raise InputError(f"{path}: starts with a {encoding} byte-order mark but is not {encoding} text") from None
    if b"\x00" in raw:
        # UTF-16 without a BOM has a zero byte in every other position for ASCII; CJK text has few
        # zeros but decodes cleanly. Anything else with NULs is binary.
        encoding = _utf16_without_bom(raw)
        if encoding is None:
            raise InputError(f"{path}: binary file, not text")
        return _checked(raw.decode(encoding), encoding, path, raw)
    try:
        return _checked(raw.decode("utf-8", errors="strict"), "utf-8", path, raw)
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    # Plans are Chinese: asked to choose among all code pages, charset-normalizer reads a short
    # GB18030 or Big5 text as Korean cp949, so Chinese encodings are tried first.
    best = from_bytes(raw, cp_isolation=_CHINESE_FIRST).best() or from_bytes(raw).best()
    if best is None:
        raise InputError(f"{path}: binary file or unknown encoding")
    encoding = _canonical_encoding(best.encoding)
    return _checked(str(best), encoding, path, raw)


def _utf16_without_bom(raw: bytes) -> str | None:
    if len(raw) % 2:
        return None
    for encoding in ("utf-16-le", "utf-16-be"):
        try:
            text = raw.decode(encoding, errors="strict")
        except UnicodeDecodeError:
            continue
        if not _CONTROL.search(text) and _plausible_text(text):
            return encoding
    return None


# What plans are written in: ASCII, Latin-1, general and CJK punctuation, CJK ideographs, full-width
# forms. Binary data read as UTF-16 spreads over every block of the BMP instead.
_PLAN_CHARS = re.compile(r"[\t\n\r\x20-\x7e\xa0-\xff\u2000-\u206f\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def _plausible_text(text: str) -> bool:
    return len(_PLAN_CHARS.findall(text)) >= 0.9 * len(text)


def _canonical_encoding(name: str) -> str:
    # charset-normalizer reports Python codec names (gb18030, big5, cp950, utf_16); GBK/GB2312 text
    # is a subset of GB18030, so one name covers the family.
    name = name.lower().replace("_", "-")
    return {"gb2312": "gb18030", "gbk": "gb18030", "cp936": "gb18030", "cp950": "big5"}.get(name, name)


def _checked(text: str, encoding: str, path: Path | str, raw: bytes) -> tuple[str, str]:
    controls = len(_CONTROL.findall(text))
    if controls > max(2, len(text) // 100):
        raise InputError(f"{path}: binary file, not text")
    return text, encoding


# --- .docx ------------------------------------------------------------------------------------


def _docx_text(raw: bytes, path: Path) -> str:
    try:
        import docx
    except ImportError as error:  # pragma: no cover - a declared dependency
        from semplan.errors import MissingDependency

        raise MissingDependency("reading .docx needs python-docx: pip install python-docx") from error
    try:
        document = docx.Document(io.BytesIO(raw))
    except Exception as error:  # python-docx raises zipfile, KeyError and lxml errors alike
        raise InputError(f"{path}: not a readable .docx ({type(error).__name__})") from error
    blocks = []
    # Paragraphs and tables in document order; a table row becomes one pipe row.
    for block in document.iter_inner_content():
        if hasattr(block, "rows"):
            for row in block.rows:
                cells = [" ".join(p.text.strip() for p in cell.paragraphs if p.text.strip()) for cell in row.cells]
                if _layout_row(cells, [sum(bool(p.text.strip()) for p in cell.paragraphs) for cell in row.cells]):
                    blocks.extend(p.text for cell in row.cells for p in cell.paragraphs)
                else:
                    blocks.append(pipe_row(cells))
        else:
            blocks.append(block.text)
    # One blank line between paragraphs, as in the scraped .txt plans.
    return "\n\n".join(block for block in blocks if block.strip())


# A table cell this long, or of this many paragraphs, holds the page layout, not a table's data.
_LAYOUT_CELL_CHARS = 300
_LAYOUT_CELL_PARAGRAPHS = 3


def _layout_row(cells: list[str], paragraphs: list[int]) -> bool:
    return any(len(cell) > _LAYOUT_CELL_CHARS for cell in cells) or any(n >= _LAYOUT_CELL_PARAGRAPHS for n in paragraphs)


def pipe_row(cells: list[str]) -> str:
    """One table row as a line: `| cell | cell |`, a `|` inside a cell written `｜`."""
    return "| " + " | ".join(re.sub(r"\s+", " ", cell).replace("|", "｜").strip() for cell in cells) + " |"


# --- .html ------------------------------------------------------------------------------------

# Elements that hold navigation, chrome or code, never plan text.
_HTML_DROP_TAGS = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "iframe",
                   "button", "select", "template", "svg")
_HTML_CHROME = re.compile(r"(^|[-_\s])(nav|navbar|menu|breadcrumb|footer|header|sidebar|share|toolbar|"
                          r"banner|copyright|pager|pagination)([-_\s]|$)", re.I)
_HTML_MAIN = re.compile(r"(^|[-_\s])(content|article|main|text|zoom|detail|body)([-_\s]|$)", re.I)
_HTML_BLOCKS = ("p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "br", "section", "article",
                "td", "dd", "dt", "blockquote", "pre", "table", "ul", "ol")


def _html_text(raw: bytes, path: Path) -> str:
    from bs4 import BeautifulSoup, UnicodeDammit

    dammit = UnicodeDammit(raw, ["utf-8", "gb18030", "big5"], is_html=True)
    markup = dammit.unicode_markup
    if markup is None:
        raise InputError(f"{path}: cannot decode the HTML page")
    soup = BeautifulSoup(markup, "html.parser")
    for tag in soup(_HTML_DROP_TAGS):
        tag.decompose()
    for tag in soup.find_all(True):
        if tag.decomposed or tag.attrs is None:
            continue
        names = " ".join([*tag.get("class", []), tag.get("id") or "", tag.get("role") or ""])
        if tag.name not in ("html", "body") and _HTML_CHROME.search(names):
            tag.decompose()
    root = soup.find("main") or soup.find("article") or _largest_content_block(soup) or soup.body or soup
    _html_tables(root)
    # Line breaks only around block elements: inline tags (<a>, <strong>, <span>) sit inside
    # sentences and must not cut them.
    for br in root.find_all("br"):
        br.replace_with("\n")
    for block in root.find_all(_HTML_BLOCKS):
        block.insert_before("\n")
        block.insert_after("\n")
    lines = [line.strip() for line in root.get_text("").splitlines()]
    return "\n\n".join(line for line in lines if line)


def _html_tables(root) -> None:
    """Each data row of a table becomes a pipe row on a line of its own; rows of a layout table
    (cells holding paragraphs) are left as they are."""
    from bs4 import NavigableString

    for row in root.find_all("tr"):
        if row.decomposed:
            continue
        cells = row.find_all(["td", "th"], recursive=False)
        if not cells or any(cell.find(["p", "div", "table", "br", "li", "h1", "h2", "h3", "h4"]) for cell in cells):
            continue
        texts = [cell.get_text(" ", strip=True) for cell in cells]
        if _layout_row(texts, [1] * len(texts)):
            continue
        row.replace_with(NavigableString("\n" + pipe_row(texts) + "\n"))


def _largest_content_block(soup):
    candidates = [
        tag for tag in soup.find_all(["div", "section", "td"])
        if _HTML_MAIN.search(" ".join([*tag.get("class", []), tag.get("id") or ""]))
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda tag: len(tag.get_text(strip=True)))


# --- .pdf -------------------------------------------------------------------------------------

_PAGE_NUMBER = re.compile(r"^\s*(?:[-—–－]\s*\d{1,4}\s*[-—–－]|第\s*\d{1,4}\s*页(?:\s*[/，,]?\s*共\s*\d{1,4}\s*页)?|\d{1,4})\s*$")


def _pdf_text(raw: bytes, path: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    encrypted = InputError(f"{path}: encrypted PDF; save an unencrypted copy (or its text) and index that")
    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted and not reader.decrypt(""):
            raise encrypted
    except InputError:
        raise
    except (DependencyError, FileNotDecryptedError) as error:  # AES needs `cryptography`, which is optional
        raise encrypted from error
    except Exception as error:  # pypdf raises its own, ValueError, KeyError, … on damaged files
        raise InputError(f"{path}: not a readable PDF ({type(error).__name__})") from error
    try:
        pages = [page.extract_text() or "" for page in reader.pages]
    except Exception as error:
        raise InputError(f"{path}: not a readable PDF ({type(error).__name__})") from error
    if not any(page.strip() for page in pages):
        raise InputError(f"{path}: PDF has no text layer (scanned? run OCR first)")
    # Page numbers printed in headers or footers (`- 3 -`, `第 3 页`) are not text of the plan. The
    # lines stay as extracted: the segmenter joins soft-wrapped lines, across page breaks too.
    lines = [line for page in pages for line in page.splitlines() if not _PAGE_NUMBER.match(line)]
    return "\n".join(lines)
