"""Fuzzing with hypothesis: hostile bytes to the readers, hostile text to the segmenter and the report.

Properties, for any input:
- readers: a file of any bytes, under every suffix semplan reads (and none), is a `Document` with
  text or a `SemplanError` (one line at the CLI), never another exception; mutated real .docx,
  .pdf and .html files too. Whatever is read segments into clauses whose spans rebuild their text.
- segmenter: any Unicode, and plan-shaped text built from real markers (一、 （一） 1. 。, page
  markers, chrome words, `<img>`, `=HYPERLINK(`), gives clauses with non-empty text, ordered disjoint
  spans inside the text, and `"".join(text[s:e] for s, e in spans) == clause.text`.
- report: any plan ids and clause texts (as the store admits them) give every report file;
  report.md rendered by markdown-it has no raw HTML, links or images; the CSVs start with a BOM and
  no text cell starts a formula; report.json loads back to the same plans and texts; report.html
  has the same script/img/iframe… elements as a report of harmless text.

The normal suite runs 150 examples per property (40 whole reports), under a minute in all. For
thousands (3000 per property, 1000 reports; about ten minutes on two cores):

    SEMPLAN_SLOW=1 pytest tests/test_fuzz.py

hypothesis keeps the failing examples it finds in .hypothesis/ and tries them first next time.
"""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from csv_cells import is_number
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from semplan.errors import SemplanError
from semplan.read import SUPPORTED_SUFFIXES, read_document
from semplan.segment import Clause, segment

SLOW = bool(os.environ.get("SEMPLAN_SLOW"))
EXAMPLES = 3000 if SLOW else 150
REPORT_EXAMPLES = 1000 if SLOW else 40
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
SUFFIXES = sorted({*SUPPORTED_SUFFIXES, ".TXT", ".md", ".doc", ""})
fuzz = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _spans_rebuild_text(text: str, clauses: list[Clause]) -> None:
    for clause in clauses:
        assert clause.text and clause.spans
        assert all(0 <= start < end <= len(text) for start, end in clause.spans)
        assert "".join(text[start:end] for start, end in clause.spans) == clause.text
    assert [clause.n for clause in clauses] == list(range(1, len(clauses) + 1))


def _read_or_refuse(path: Path) -> None:
    try:
        document = read_document(path)
    except SemplanError as error:
        assert "\n" not in str(error) and str(error)
        return
    assert isinstance(document.text, str) and document.text.strip()
    _spans_rebuild_text(document.text, segment(document.text, document.plan_id))


# ------------------------------------------------------------------ readers


@fuzz
@given(raw=st.binary(min_size=0, max_size=4000), suffix=st.sampled_from(SUFFIXES))
def test_readers_take_any_bytes(tmp_path, raw, suffix):
    path = tmp_path / f"plan{suffix}"
    path.write_bytes(raw)
    _read_or_refuse(path)


@fuzz
@given(text=st.text(max_size=2000), codec=st.sampled_from(["utf-8", "utf-16", "utf-16-le", "gb18030", "big5"]))
def test_readers_take_any_text_in_any_encoding(tmp_path, text, codec):
    raw = text.encode(codec, errors="replace")
    path = tmp_path / "plan.txt"
    path.write_bytes(raw)
    _read_or_refuse(path)


@pytest.mark.parametrize("raw", [b"\xef\xbb\xbf\xff\xfe", b"\xff\xfeA\x00B", b"\xff\xfe\x00\x000\x00"],
                         ids=["utf-8-bom", "utf-16-bom-odd-length", "utf-16-bom-then-nul"])
def test_broken_byte_order_mark_is_not_a_traceback(tmp_path, raw):
    """Found by the encoding fuzz: a byte-order mark followed by bytes that are not that encoding
    (`FF FE 00 00` is also UTF-32's mark) ended `semplan segment` / `index` in a UnicodeDecodeError
    traceback."""
    path = tmp_path / "plan.txt"
    path.write_bytes(raw)
    _read_or_refuse(path)  # FF FE 00 00 30 00 may well be UTF-16 text ("\x000"): a document or an InputError


def _docx_bytes(paragraphs: list[str]) -> bytes:
    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _pdf_bytes(lines: list[str]) -> bytes:
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.setFont("Helvetica", 11)
    for row, line in enumerate(lines):
        page.drawString(40, 800 - 16 * row, line)
    page.showPage()
    page.save()
    return buffer.getvalue()


PLAN_LINES = ["1. Strengthen pre-school education.", "2. Expand after-school services.", "- 1 -",
              "Improve teacher pay; build new schools."]
SEEDS = {
    ".docx": _docx_bytes(["一、总体要求", "（一）加强学前教育普惠发展。", "推进课后服务。"]),
    ".pdf": _pdf_bytes(PLAN_LINES),
    ".html": ('<html><body><nav>首页</nav><div class="content"><p>一、总体要求</p><p>1.加强学前教育。'
              "<br>推进课后服务。</p></div><footer>版权所有</footer></body></html>").encode(),
}


@fuzz
@given(
    suffix=st.sampled_from(sorted(SEEDS)),
    mutations=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=12),
    cut=st.one_of(st.none(), st.integers(min_value=0)),
)
def test_readers_take_damaged_real_files(tmp_path, suffix, mutations, cut):
    """A real .docx, .pdf and .html with bytes overwritten and the tail cut off."""
    raw = bytearray(SEEDS[suffix])
    for offset, value in mutations:
        raw[offset % len(raw)] = value
    if cut is not None:
        raw = raw[: cut % (len(raw) + 1)]
    path = tmp_path / f"plan{suffix}"
    path.write_bytes(bytes(raw))
    _read_or_refuse(path)


@fuzz
@given(document_xml=st.one_of(st.binary(max_size=2000), st.text(max_size=2000).map(str.encode)),
       paragraphs=st.lists(st.text(max_size=60), max_size=6))
def test_docx_with_any_document_xml(tmp_path, document_xml, paragraphs):
    """A well-formed zip whose word/document.xml is anything, or a real one holding any text."""
    path = tmp_path / "plan.docx"
    with zipfile.ZipFile(io.BytesIO(SEEDS[".docx"])) as seed, zipfile.ZipFile(path, "w") as out:
        for item in seed.infolist():
            data = document_xml if item.filename == "word/document.xml" else seed.read(item)
            out.writestr(item, data)
    _read_or_refuse(path)
    legal = ["".join(ch for ch in p if ch in "\t\n\r" or ord(ch) >= 0x20 and ch not in "\ufffe\uffff")
             for p in paragraphs]
    path.write_bytes(_docx_bytes(legal))
    _read_or_refuse(path)


# ------------------------------------------------------------------ segmenter


@fuzz
@given(text=st.text(max_size=3000))
def test_segmenter_takes_any_unicode(text):
    _spans_rebuild_text(text, segment(text, "fuzz"))


# Pieces of real plans: markers, numbering, punctuation, chrome, page markers, odd spaces, injections.
PLAN_PIECES = [
    "一、", "二、", "十二、", "（一）", "(二)", "（十）", "1.", "2 .", "1 0 ·", "3、", "12、", "1）", "①", "第一章", "第二条",
    "。", "；", "：", "，", ",", "！", "？", "……", "\n", "\n\n", "\u3000", "\xa0", " ", "\t", "总体思路", "工作要点",
    "2021年", "20XX年", "设为首页", "浏览次数:", "打印本页", "关闭窗口", "第1页 / 共12页", "- 3 -", "第 3 页", "附件",
    "推进学前教育普惠发展", "加强师德师风建设", "實施『安吉游戲』推廣計劃", "PM", "2.5", "90.5%", "“", "”", "《", "》",
    "\r\n", "\r", "\u2028", "\u2029", "\ufeff", "\x00", "\x0c", "\u200b", "\u202e", "<img src=x onerror=alert(1)>",
    "<script>", "=HYPERLINK(\"http://x\",\"y\")", "=1+2", "@SUM(A1)", "-2+3", "[点这里](javascript:alert(1))",
    "#", "##", "XX", "|", "`", "*", "_", "\\",
]
plan_shaped = st.lists(st.one_of(st.sampled_from(PLAN_PIECES), st.text(max_size=8)), max_size=400).map("".join)


@fuzz
@given(text=plan_shaped)
def test_segmenter_takes_plan_shaped_text(text):
    _spans_rebuild_text(text, segment(text, "fuzz"))


# ------------------------------------------------------------------ report writers

# What the store admits as a plan id (read.check_plan_id): no '#', tab or newline, no edge spaces.
plan_ids = st.text(min_size=1, max_size=20).filter(
    lambda s: s == s.strip() and "#" not in s and not any(ch in s for ch in "\n\r\t")
)
clause_texts = st.one_of(st.text(min_size=1, max_size=80), plan_shaped.filter(bool).map(lambda s: s[:200]))
DANGEROUS_TAGS = ("script", "img", "iframe", "object", "embed", "svg", "style", "link", "meta", "base", "form", "a")


def small_analysis(plans: list[str], texts: list[list[str]]):
    """A real `find_priorities` run (keywords, matching, tiers) over the texts, with fixed random
    vectors and a fast clusterer (PCA + k-means), and a random 2-D map (UMAP would take seconds);
    `sources` that the spans point into."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    from semplan.cluster import PriorityClusterer, find_priorities

    clauses, sources = [], {}
    for plan, plan_texts in zip(plans, texts, strict=True):
        source = ""
        for n, text in enumerate(plan_texts, start=1):
            clauses.append(Clause(plan, n, "sentence", text, text, ((len(source), len(source) + len(text)),)))
            source += text + "\n"
        sources[plan] = source
    rng = np.random.default_rng(0)
    vectors = (rng.normal(size=(3, 16))[[i % 3 for i in range(len(clauses))]]
               + 0.2 * rng.normal(size=(len(clauses), 16))).astype(np.float32)
    clusterer = PriorityClusterer(reducer=PCA(n_components=3), clusterer=KMeans(n_clusters=3, n_init=1, random_state=0))
    analysis = find_priorities(clauses, vectors, clusterer=clusterer, map_2d=False)
    analysis.map_xy = rng.normal(size=(len(clauses), 2))
    return analysis, sources


class _TagCounter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: Counter[str] = Counter()

    def handle_starttag(self, tag, attrs) -> None:
        if tag in DANGEROUS_TAGS:
            self.tags[tag] += 1


def _dangerous_tags(html: str) -> Counter[str]:
    counter = _TagCounter()
    counter.feed(html)
    return counter.tags


def _markdown_tokens(markdown: str):
    from markdown_it import MarkdownIt

    stack = list(MarkdownIt("commonmark").enable("table").parse(markdown))
    while stack:
        token = stack.pop()
        yield token
        stack.extend(token.children or [])


def _check_report(out: Path, plans: list[str], texts: list[list[str]]) -> Counter[str]:
    from semplan.report import REPORT_FILES

    assert sorted(path.name for path in out.iterdir()) == sorted(REPORT_FILES)
    assert all((out / name).stat().st_size > 0 for name in REPORT_FILES)

    markdown = (out / "report.md").read_text(encoding="utf-8")
    kinds = {token.type for token in _markdown_tokens(markdown)}
    assert not kinds & {"html_inline", "html_block", "link_open", "image"}, kinds

    for name in ("priorities.csv", "clauses.csv"):
        raw = (out / name).read_text(encoding="utf-8")
        assert raw.startswith("\ufeff")
        cells = [cell for row in csv.reader(io.StringIO(raw[1:], newline="")) for cell in row]
        assert not [cell for cell in cells if cell.startswith(FORMULA_LEADS) and not is_number(cell)]

    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [plan["plan_id"] for plan in data["plans"]] == plans
    assert [row["text"] for row in data["clauses"]] == [text for plan_texts in texts for text in plan_texts]
    assert [row["plan"] for row in data["clauses"]] == [plan for plan, plan_texts in zip(plans, texts, strict=True)
                                                        for _ in plan_texts]
    return _dangerous_tags((out / "report.html").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def harmless_tags(tmp_path_factory):
    """The script/img/… elements report.html has for harmless text: the page's own."""
    from semplan.report import write_report

    plans = ["plan-a", "plan-b", "plan-c"]
    texts = [["加强学前教育。", "推进课后服务。", "提高教师待遇。", "建设新学校。"]] * 3
    analysis, sources = small_analysis(plans, texts)
    out = tmp_path_factory.mktemp("harmless")
    write_report(analysis, out, sources=sources, source_paths={plan: f"{plan}.txt" for plan in plans})
    return _check_report(out, plans, texts)


@settings(max_examples=REPORT_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    plans=st.lists(plan_ids, min_size=3, max_size=3, unique=True),
    texts=st.lists(st.lists(clause_texts, min_size=4, max_size=4), min_size=3, max_size=3),
    title=st.text(max_size=40),
)
def test_report_writers_take_any_plan_ids_and_texts(tmp_path_factory, harmless_tags, plans, texts, title):
    from semplan.report import write_report

    analysis, sources = small_analysis(plans, texts)
    out = tmp_path_factory.mktemp("fuzz-report")
    write_report(analysis, out, sources=sources, source_paths={plan: f"{plan}.txt" for plan in plans},
                 title=title, metadata={"model": title})
    assert _check_report(out, plans, texts) == harmless_tags


def test_carriage_return_in_a_csv_cell_cannot_start_a_row():
    """Found by the report fuzz: csv.writer(lineterminator="\\n") leaves a cell holding "\\r" unquoted,
    and every CSV reader (Excel's too) ends the row there: "x\\r=SUM(A1:A9)" put a formula at the
    start of the next row."""
    from semplan._csv import csv_text

    text = csv_text(["text", "n"], [["x\r=SUM(A1:A9)", 1]])
    assert list(csv.reader(io.StringIO(text[1:], newline=""))) == [["text", "n"], ["x\r=SUM(A1:A9)", "1"]]
