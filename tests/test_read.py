"""Readers on real files the tests generate from the sample plans: encodings, .docx, .pdf, .html,
and the inputs that must fail with one clear line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from semplan.data import SAMPLE_DIR, sample_plan_paths
from semplan.errors import InputError
from semplan.read import SUPPORTED_SUFFIXES, decode_text, iter_documents, read_document
from semplan.segment import segment, segment_text


def _original(plan_id: str) -> str:
    return (SAMPLE_DIR / f"{plan_id}.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("generated")


def test_bundled_sample_plans():
    paths = sample_plan_paths()
    assert [p.stem for p in paths] == ["city-2019", "daqing-2021", "hulunbuir-2021", "qingyuan-2022",
                                       "xx-county-2021"]
    document = read_document(paths[0])
    assert document.plan_id == "city-2019" and document.encoding == "utf-8"
    assert len(document.sha256) == 64 and document.text == _original("city-2019")


# --- encodings ----------------------------------------------------------------------------------

ENCODINGS = [
    # (plan, codec used to write the file, encoding the reader should report)
    ("hulunbuir-2021", "gb18030", "gb18030"),
    ("qingyuan-2022", "gb18030", "gb18030"),  # has U+00A0, which GBK cannot hold
    ("city-2019", "gbk", "gb18030"),  # GBK is read as its superset
    ("daqing-2021", "big5", "big5"),
    ("xx-county-2021", "utf-16", "utf-16"),  # with BOM
    ("city-2019", "utf-16-le", "utf-16-le"),  # without BOM
    ("daqing-2021", "utf-16-be", "utf-16-be"),
    ("hulunbuir-2021", "utf-8-sig", "utf-8-sig"),
]


@pytest.mark.parametrize(("plan_id", "codec", "reported"), ENCODINGS, ids=lambda v: str(v))
def test_encodings_decode_to_the_original_text(generated, plan_id, codec, reported):
    original = _original(plan_id)
    path = generated / f"{plan_id}.{codec}.txt"
    path.write_bytes(original.encode(codec))
    document = read_document(path, plan_id=plan_id)
    assert document.text == original
    assert document.encoding == reported
    assert segment(document.text, plan_id) == segment(original, plan_id)


def test_plan_id_defaults_to_the_file_stem(generated):
    path = generated / "my-plan.txt"
    path.write_text("一、总则\n1.加强党的全面领导工作。\n", encoding="utf-8")
    assert read_document(path).plan_id == "my-plan"
    assert read_document(path, plan_id="other").plan_id == "other"


# --- .docx ----------------------------------------------------------------------------------------


def test_docx_made_from_a_sample_plan(generated):
    import docx

    original = _original("hulunbuir-2021")
    document = docx.Document()
    for line in original.splitlines():
        if line.strip():
            document.add_paragraph(line)
    path = generated / "hulunbuir.docx"
    document.save(path)

    read = read_document(path)
    assert read.encoding == "docx" and read.plan_id == "hulunbuir"
    clauses = segment(read.text, read.plan_id)
    original_clauses = segment(original, "hulunbuir")
    assert [c.text for c in clauses] == [c.text for c in original_clauses]
    assert [c.item_number for c in clauses if c.kind == "item_title"] == list(range(1, 28))


# --- .pdf -----------------------------------------------------------------------------------------


def _write_pdf(path: Path, lines: list[str], font: str, page_numbers: bool = False) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    page = canvas.Canvas(str(path), pagesize=A4)
    page.setFont(font, 11)
    y, number = 800, 1
    for line in lines:
        if y < 60:
            if page_numbers:
                page.drawString(280, 30, f"- {number} -")
            page.showPage()
            page.setFont(font, 11)
            y, number = 800, number + 1
        page.drawString(40, y, line)
        y -= 16
    if page_numbers:
        page.drawString(280, 30, f"- {number} -")
    page.showPage()
    page.save()


def test_pdf_with_a_chinese_text_layer(generated):
    """reportlab's built-in CID font STSong-Light; lines wrap mid-sentence and pages break
    mid-sentence as in real PDFs, with page numbers in the footer."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    original = _original("qingyuan-2022")
    paragraphs = [line.strip() for line in original.splitlines() if line.strip()][5:40]
    lines = [wrapped for paragraph in paragraphs for wrapped in textwrap.wrap(paragraph, 40)]
    path = generated / "qingyuan.pdf"
    _write_pdf(path, lines, "STSong-Light", page_numbers=True)
    assert len(lines) > 2 * 47  # at least three pages

    read = read_document(path)
    assert read.encoding == "pdf"
    assert "- 1 -" not in read.text and "- 2 -" not in read.text
    clauses = segment(read.text, "qingyuan")
    expected = segment("\n\n".join(paragraphs), "qingyuan")
    # The reader keeps the PDF's lines; the segmenter joins soft wraps and page breaks back: the
    # same clauses as from the text itself, each with one span per line it runs over.
    assert [c.match_text for c in clauses] == [c.match_text for c in expected]
    assert any(len(c.spans) > 1 for c in clauses)
    assert all(c.source_text(read.text) == c.text for c in clauses)
    titles = [c.item_number for c in clauses if c.kind == "item_title"]
    assert titles == list(range(1, len(titles) + 1)) and len(titles) >= 15


def test_pdf_with_a_latin_text_layer(generated):
    path = generated / "english.pdf"
    _write_pdf(path, ["1. Strengthen moral education in every school", "and every classroom.",
                      "2. Reduce homework for primary pupils."], "Helvetica")
    read = read_document(path)
    clauses = segment(read.text, "english")
    assert clauses[0].match_text == "Strengthen moral education in every school and every classroom."
    # The source's line break stands between the two words: one span, the text exact.
    assert clauses[0].item_number == 1 and clauses[0].text == "Strengthen moral education in every school\nand every classroom."


def test_short_chinese_texts_are_not_mistaken_for_korean():
    for text, codec in [("加强党的全面领导。", "gb18030"), ("實施安吉游戲推廣計劃,提高保教質量。", "big5")]:
        assert decode_text(text.encode(codec)) == (text, codec)


# --- .html ----------------------------------------------------------------------------------------


def test_html_page_main_text_without_navigation(generated):
    original = _original("hulunbuir-2021")
    paragraphs = [line.strip() for line in original.splitlines() if line.strip()]
    body = "\n".join(f"<p>{paragraph}</p>" for paragraph in paragraphs[7:])
    html = f"""<!DOCTYPE html><html><head><meta charset="gb2312"><title>呼伦贝尔市教育局</title>
    <script>var menu = "设为首页";</script><style>.nav {{color: red}}</style></head><body>
    <div class="top-nav"><a href="/">设为首页</a> | <a>加入收藏</a> | <a>联系我们</a></div>
    <nav><ul><li>首页</li><li>机构概况</li><li>政务公开</li></ul></nav>
    <div class="breadcrumb">当前位置:首页 &gt; 通知公告</div>
    <div id="zoom" class="article-content">{body}</div>
    <div class="share-bar">分享到:微信 微博</div>
    <footer>版权所有 呼伦贝尔市教育局 备案号:蒙ICP备00000000号</footer></body></html>"""
    path = generated / "hulunbuir.html"
    path.write_bytes(html.encode("gb18030"))

    read = read_document(path)
    assert read.encoding == "html"
    for chrome in ("设为首页", "加入收藏", "联系我们", "机构概况", "当前位置", "分享到", "备案号", "menu"):
        assert chrome not in read.text
    clauses = segment(read.text, "hulunbuir")
    assert [c.item_number for c in clauses if c.kind == "item_title"] == list(range(1, 28))
    assert sum(c.kind == "lead" for c in clauses) == 1


def test_html_inline_tags_do_not_cut_sentences(generated):
    path = generated / "inline.html"
    path.write_text('<html><body><div class="content"><p>1.加强<strong>党的</strong>建设<a href="#">工作</a>。'
                    "推进<span>基层</span>组织建设。</p><p>2.第二项<em>工作</em>。</p></div></body></html>",
                    encoding="utf-8")
    assert read_document(path).text == "1.加强党的建设工作。推进基层组织建设。\n\n2.第二项工作。"


def test_html_table_rows_become_pipe_rows_and_table_row_clauses(generated):
    path = generated / "table.html"
    path.write_text('<html><body><div class="content"><p>1.落实重点任务。</p><table>'
                    "<tr><th>任务</th><th>责任单位</th></tr><tr><td>课后服务全覆盖</td><td>基教科</td></tr>"
                    "</table><p>2.第二项工作要抓好。</p></div></body></html>", encoding="utf-8")
    read = read_document(path)
    assert "| 任务 | 责任单位 |\n\n| 课后服务全覆盖 | 基教科 |" in read.text
    clauses = segment(read.text, "table")
    assert [(c.kind, c.text) for c in clauses] == [
        ("item_title", "落实重点任务。"), ("table_row", "任务 | 责任单位"), ("table_row", "课后服务全覆盖 | 基教科"),
        ("item_title", "第二项工作要抓好。")]


def test_docx_tables_stay_in_document_order(generated):
    import docx

    document = docx.Document()
    document.add_paragraph("1.第一项工作。")
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "指标"
    table.cell(0, 1).text = "95%"
    document.add_paragraph("2.第二项工作。")
    path = generated / "table.docx"
    document.save(path)
    read = read_document(path)
    assert read.text == "1.第一项工作。\n\n| 指标 | 95% |\n\n2.第二项工作。"
    clauses = segment(read.text, "table")
    assert [(c.kind, c.text) for c in clauses] == [
        ("item_title", "第一项工作。"), ("table_row", "指标 | 95%"), ("item_title", "第二项工作。")]


def test_docx_table_header_row_is_not_glued_to_the_clause_before(generated):
    """`推进基层党建创新。任务 责任单位`: a task table's header row merged into the sentence before."""
    import docx

    document = docx.Document()
    document.add_paragraph("一、加强党的建设")
    document.add_paragraph("1.推进基层党建创新。")
    table = document.add_table(rows=3, cols=2)
    for row, (task, owner) in enumerate([("任务", "责任单位"), ("党建示范校创建", "组织科"), ("", "")]):
        table.cell(row, 0).text = task
        table.cell(row, 1).text = owner
    path = generated / "tasks.docx"
    document.save(path)
    segmentation = segment_text(read_document(path).text, "tasks")
    assert [(c.kind, c.text) for c in segmentation.clauses] == [
        ("heading", "加强党的建设"), ("item_title", "推进基层党建创新。"),
        ("table_row", "任务 | 责任单位"), ("table_row", "党建示范校创建 | 组织科")]
    assert segmentation.lines.table_rows_skipped == 1  # the empty row


def test_docx_layout_table_is_read_as_paragraphs(generated):
    """A whole plan typed into one table cell is page layout, not a table row."""
    import docx

    document = docx.Document()
    cell = document.add_table(rows=1, cols=1).cell(0, 0)
    cell.text = "1.第一项工作要抓好。"
    for n in range(2, 5):
        cell.add_paragraph(f"{n}.第{n}项工作要抓好。")
    path = generated / "layout.docx"
    document.save(path)
    clauses = segment(read_document(path).text, "layout")
    assert [c.item_number for c in clauses if c.kind == "item_title"] == [1, 2, 3, 4]
    assert not any(c.kind == "table_row" for c in clauses)


# --- failures ------------------------------------------------------------------------------------


def _one_line_error(path, match: str, plan_id=None) -> str:
    with pytest.raises(InputError) as caught:
        read_document(path, plan_id)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message and match in message, message
    return message


def test_empty_file(generated):
    path = generated / "empty.txt"
    path.write_bytes(b"")
    _one_line_error(path, "empty file")
    blank = generated / "blank.txt"
    blank.write_bytes(b" \r\n\t\n")
    _one_line_error(blank, "empty file")


def test_binary_files(generated):
    png = generated / "image.txt"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256)) * 4)
    _one_line_error(png, "binary")
    noise = generated / "noise.txt"
    noise.write_bytes(bytes((i * 37 + 11) % 256 for i in range(4000)))
    _one_line_error(noise, "binary")
    assert decode_text("正文".encode())[0] == "正文"


def test_missing_file_and_directory(generated):
    _one_line_error(generated / "no-such-plan.txt", "no such file")
    _one_line_error(generated, "is a directory")


def test_corrupt_docx_and_pdf(generated):
    docx_path = generated / "broken.docx"
    docx_path.write_bytes(b"PK\x03\x04 this is not really a zip archive")
    _one_line_error(docx_path, "not a readable .docx")
    pdf_path = generated / "broken.pdf"
    pdf_path.write_bytes(b"%PDF-1.4\n garbage garbage")
    _one_line_error(pdf_path, "PDF")


def test_legacy_office_formats_get_a_conversion_hint(generated):
    path = generated / "plan.doc"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512)
    _one_line_error(path, ".doc files cannot be read; save it as .docx first")


def test_bad_plan_id(generated):
    path = generated / "ok.txt"
    path.write_text("加强党的全面领导。", encoding="utf-8")
    _one_line_error(path, "may not contain '#'", plan_id="a#b")


# --- many files ------------------------------------------------------------------------------------


def test_directory_expands_to_supported_files_sorted_and_names_the_rest(caplog):
    with caplog.at_level("INFO", logger="semplan.read"):
        documents = list(iter_documents([SAMPLE_DIR]))
    assert [d.plan_id for d in documents] == [p.stem for p in sample_plan_paths()]
    assert ".md" not in SUPPORTED_SUFFIXES
    assert f"{SAMPLE_DIR}: skipped 1 file(s) of other types: README.md" in caplog.messages


def test_a_single_file_of_unknown_type_is_read_as_text_with_a_warning(generated, caplog):
    for name in ("README.md", "plan"):
        path = generated / name
        path.write_text("一、总则\n1.加强党的全面领导工作。\n", encoding="utf-8")
        caplog.clear()
        with caplog.at_level("WARNING", logger="semplan.read"):
            document = read_document(path)
        assert document.encoding == "utf-8"
        assert caplog.messages == [f"{path}: not a known plan type ({', '.join(SUPPORTED_SUFFIXES)}); read as plain text"]
    caplog.clear()
    with caplog.at_level("WARNING", logger="semplan.read"):
        read_document(sample_plan_paths()[0])
    assert caplog.messages == []


def test_keep_going_reports_and_skips_bad_files(generated):
    empty = generated / "empty-again.txt"
    empty.write_bytes(b"")
    missing = generated / "gone.txt"
    good = sample_plan_paths()[0]
    errors = []
    documents = list(iter_documents([empty, good, missing], keep_going=True,
                                    on_error=lambda path, error: errors.append((path, str(error)))))
    assert [d.plan_id for d in documents] == ["city-2019"]
    assert [path for path, _ in errors] == [empty, missing]
    with pytest.raises(InputError, match="empty file"):
        list(iter_documents([good, empty]))


def test_duplicate_plan_ids_and_explicit_ids(generated):
    copy = generated / "city-2019.txt"
    copy.write_text(_original("city-2019"), encoding="utf-8")
    with pytest.raises(InputError, match="already used"):
        list(iter_documents([sample_plan_paths()[0], copy]))
    documents = list(iter_documents([sample_plan_paths()[0], copy], plan_ids=[None, "city-copy"]))
    assert [d.plan_id for d in documents] == ["city-2019", "city-copy"]
    with pytest.raises(InputError, match="plan ids given"):
        list(iter_documents([copy], plan_ids=["a", "b"]))


FAULTS = Path(__file__).resolve().parent / "data" / "faults"


def test_aes_encrypted_pdf_is_one_line_error_and_keep_going_passes_it(generated):
    """pypdf needs `cryptography` for AES; without it the reader raised DependencyError (a traceback)."""
    encrypted = FAULTS / "encrypted-aes256.pdf"
    with pytest.raises(InputError, match=r"encrypted-aes256\.pdf: encrypted PDF") as caught:
        read_document(encrypted)
    assert "\n" not in str(caught.value)
    good = generated / "good.txt"
    good.write_text("一、推进学前教育普惠发展。", encoding="utf-8")
    failed = []
    documents = list(iter_documents([encrypted, good], keep_going=True, on_error=lambda p, e: failed.append(p)))
    assert [d.plan_id for d in documents] == ["good"] and failed == [encrypted]


def test_fifo_and_devices_are_refused_not_read(tmp_path):
    """A FIFO made `segment` block forever; /dev/zero ran out of memory."""
    import os
    import subprocess
    import sys

    fifo = tmp_path / "plan.txt"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        # In a child, so that a regression fails this test instead of hanging the suite.
        result = subprocess.run(
            [sys.executable, "-m", "semplan", "segment", str(path)], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == [f"Error: {path}: not a regular file (a pipe, device or socket); give a plan file"]
