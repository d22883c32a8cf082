"""The segmenter on plans nobody here wrote: tests/data/realworld/ (ten layouts, expected.json says
what a correct segmentation looks like) and tests/data/series/ (five national reports of one
issuer, 2021–2025). docs/segmentation-design.md gives the figures these tests hold."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest

from semplan.read import read_document
from semplan.segment import RepeatedLines, plan_stats, segment_documents, segment_text

DATA = Path(__file__).resolve().parent / "data"
REALWORLD = DATA / "realworld"
SERIES = DATA / "series"
EXPECTED = json.loads((REALWORLD / "expected.json").read_text(encoding="utf-8"))
# A heading as expected.json writes it: with its Markdown marks and section number.
_HEADING_MARKS = re.compile(r"^#+\s*|^[一二三四五六七八九十]{1,3}、|^[（(][一二三四五六七八九十]{1,3}[）)]")


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def realworld():
    documents = [read_document(REALWORLD / name) for name in EXPECTED]
    return {f"{doc.plan_id}.txt": (doc.text, segmentation)
            for doc, segmentation in zip(documents, segment_documents(documents), strict=True)}


@pytest.fixture(scope="module")
def series():
    documents = [read_document(path) for path in sorted(SERIES.glob("gwr-*.txt"))]
    return {doc.plan_id: (doc.text, segmentation)
            for doc, segmentation in zip(documents, segment_documents(documents), strict=True)}


def _all(realworld, series):
    return [*realworld.items(), *series.items()]


def _whole_lines(source: str) -> set[tuple[int, int]]:
    lines = set()
    for match in re.finditer(r"[^\n]+", source):
        text = match.group()
        start = match.start() + len(text) - len(text.lstrip())
        end = match.end() - (len(text) - len(text.rstrip()))
        if start < end:
            lines.add((start, end))
    return lines


def test_spans_are_exact_ordered_and_disjoint(realworld, series):
    for name, (source, segmentation) in _all(realworld, series):
        previous_end = 0
        for clause in segmentation.clauses:
            assert clause.source_text(source) == clause.text, (name, clause.clause_id)
            assert clause.text == clause.text.strip(), (name, clause.clause_id)
            for start, end in clause.spans:
                assert previous_end <= start < end, (name, clause.clause_id)
                previous_end = end


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_no_chrome_clause(realworld, name):
    _, segmentation = realworld[name]
    for chrome in EXPECTED[name]["must_not_appear"]:
        found = [c.text for c in segmentation.clauses if _squeeze(chrome) in _squeeze(c.text)]
        assert found == [], (name, chrome)


def test_no_short_clause_is_cut_out_of_a_sentence(realworld, series):
    """A clause of at most four letters is a heading, a table row or a whole line of its own
    (`PM\\n2.5\\n）` and `双向\\n揭榜\\n挂帅` came out as clauses `2.5` and `揭榜`)."""
    for name, (source, segmentation) in _all(realworld, series):
        lines = _whole_lines(source)
        for clause in segmentation.clauses:
            if sum(ch.isalnum() for ch in clause.text) > 4 or clause.kind in ("heading", "table_row"):
                continue
            assert clause.extent in lines, (name, clause.clause_id, clause.text)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_expected_clauses_fall_inside_one_clause(realworld, name):
    source, segmentation = realworld[name]
    for snippet in EXPECTED[name]["expected_clauses"]:
        offset = source.find(snippet)
        assert offset >= 0, (name, snippet)
        holding = [c for c in segmentation.clauses
                   if c.extent[0] <= offset and offset + len(snippet) <= c.extent[1]]
        assert len(holding) == 1, (name, snippet, [c.text for c in segmentation.clauses
                                                   if c.extent[0] < offset + len(snippet) and offset < c.extent[1]])
        assert _squeeze(snippet) in _squeeze(holding[0].text)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_headings_are_heading_clauses(realworld, name):
    _, segmentation = realworld[name]
    headings = {_squeeze(c.text).rstrip("。") for c in segmentation.clauses if c.kind == "heading"}
    for heading in EXPECTED[name]["headings"]:
        assert _squeeze(_HEADING_MARKS.sub("", heading)).rstrip("。") in headings, (name, heading)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_clause_counts_are_in_the_expected_range(realworld, name):
    low, high = EXPECTED[name]["approx_clauses"]
    assert low <= len(realworld[name][1].clauses) <= high


def test_a_hard_wrapped_copy_gives_the_clauses_of_its_clean_copy(realworld):
    """Measured as the share of the clean copy's clause texts (whitespace removed) that are a
    clause text of the copy hard-wrapped at 30 characters; 31.7% before line-structure recovery."""
    clean = [_squeeze(c.text) for c in realworld["liaoning-gwr-2026-clean.txt"][1].clauses]
    wrapped = {_squeeze(c.text) for c in realworld["liaoning-gwr-2026-wrapped30.txt"][1].clauses}
    share = sum(text in wrapped for text in clean) / len(clean)
    assert share >= 0.9
    soft = realworld["liaoning-gwr-2026-wrapped30.txt"][1].lines.soft_breaks
    assert soft > 500  # nearly every one of its 664 line breaks is a wrap


def test_glossaries_are_notes_not_items_of_the_last_section(realworld):
    for name, entries in [("sichuan-gwr-2026.txt", 20), ("jiangxi-gwr-2026.txt", 26), ("hainan-gwr-2026.txt", 28)]:
        clauses = realworld[name][1].clauses
        notes = [c for c in clauses if c.kind == "note"]
        assert notes and all(c.item_number is None and c.section_number is None for c in notes), name
        first_note = clauses.index(notes[0])
        assert all(c.kind in ("note", "heading") for c in clauses[first_note:]), name
        assert len({c.text[:6] for c in notes}) >= entries * 0.9, name
    hainan = realworld["hainan-gwr-2026.txt"][1].clauses
    assert any(c.kind == "note" and c.text.startswith("［5］ESI：Essential") for c in hainan)  # term and definition


def test_government_reports_have_two_heading_levels(realworld, series):
    ningxia = realworld["ningxia-gwr-2026.txt"][1].clauses
    clause = next(c for c in ningxia if c.text.startswith("一是坚定实施扩大内需战略"))
    assert (clause.section_number, clause.subsection_number) == (3, 1)
    assert clause.path.startswith("三、2026年重点工作 › （一）着力贯彻新发展理念")
    for year, (_, segmentation) in series.items():
        headings = [c for c in segmentation.clauses if c.kind == "heading"]
        assert sum(c.subsection_number is None for c in headings) >= 2, year  # 2023 has two sections
        assert sum(c.subsection_number is not None for c in headings) >= 8, year


def test_markup_breaks_inside_sentences_are_joined(realworld, series):
    national = realworld["national-gwr-2019-wikisource.txt"][1].clauses
    assert any(c.text.startswith("污染防治得到加强，细颗粒物（PM2.5）浓度继续下降") for c in national)
    assert not any(c.item_number for c in national)  # `2.5` is not an item
    sichuan = realworld["sichuan-gwr-2026.txt"][1].clauses
    assert any("成果找市场“双向揭榜挂帅”的简称" in c.text for c in sichuan)
    source, segmentation = series["gwr-2021"]
    page_break = next(c for c in segmentation.clauses if "交出一份人民满意" in c.text)  # `人\n\u200b\n民`
    assert len(page_break.spans) == 2 and "\u200b" in source[page_break.spans[0][1]:page_break.spans[1][0]]


def test_html_table_rows_inside_a_text_are_table_row_clauses(realworld):
    taipei = realworld["taipei-neihu-plan-zh-hant.txt"][1]
    rows = [c for c in taipei.clauses if c.kind == "table_row"]
    # Cells joined by the tab before each <td> (the file writes some characters as CJK compatibility
    # ideographs, which NFKC folds).
    assert "生活圈\t範圍(里別)" in [unicodedata.normalize("NFKC", c.text) for c in rows]
    assert not any("<" in c.text or ">" in c.text for c in taipei.clauses)
    assert taipei.lines.table_rows_skipped > 0  # rows of empty cells
    cover = [unicodedata.normalize("NFKC", c.text) for c in taipei.clauses[:8]]
    # The `- ` list of the cover page is a list, not one run-on sentence.
    assert "辦理單位:臺北市政府" in [text.replace("：", ":") for text in cover]


def test_repeated_lines_across_a_series_are_boilerplate(series):
    texts = [source for source, _ in series.values()]
    repeated = RepeatedLines.from_texts(texts)
    assert "Public domain" in repeated and "法律" in repeated and "各位代表：" in repeated
    assert "一、2021年工作回顾" not in repeated  # unique to its year
    for year, (_, segmentation) in series.items():
        reasons = {reason for _, reason, _ in segmentation.lines.chrome}
        assert "page footer" in reasons, year
        assert not any("本作品" in c.text or "维基文库" in c.text for c in segmentation.clauses), year


def test_repetition_does_not_remove_a_subheadline_two_plans_share():
    body = "要把立德树人融入思想道德教育、文化知识教育、社会实践教育各环节，贯穿基础教育、职业教育、高等教育各领域。"
    plans = [f"加强党的建设\n{body}\n第{n}项工作要抓好落实，确保按期完成任务。\n分享到：\n" for n in (1, 2)]
    repeated = RepeatedLines.from_texts(plans)
    assert "加强党的建设" in repeated and "分享到：" in repeated
    clauses = segment_text(plans[0], "a", repeated).clauses
    assert clauses[0].kind == "item_title" and clauses[0].text == "加强党的建设"
    # Short list lines two plans share in their body are what semplan looks for: they stay.
    lists = [f"一、重点工作\n{body}\n智慧校园\n课后服务\n劳动教育\n{body}\n" for _ in (1, 2)]
    repeated = RepeatedLines.from_texts(lists)
    assert "课后服务" in repeated
    kept = "".join(c.text for c in segment_text(lists[0], "a", repeated).clauses)
    assert all(word in kept for word in ("智慧校园", "课后服务", "劳动教育"))
    # A link word cut out of a sentence by markup recurs in both plans, and stays in its sentence.
    plans = [f"第{n}项：实施科技“双向\n揭榜\n挂帅”项目，带动企业研发投入增长。\n" for n in (1, 2)]
    repeated = RepeatedLines.from_texts(plans)
    assert "揭榜" in repeated
    assert [c.text for c in segment_text(plans[0], "a", repeated).clauses] == [
        "第1项：实施科技“双向\n揭榜\n挂帅”项目，带动企业研发投入增长。".replace("\n", "")]


def test_stats_report_headings_notes_tables_and_chrome(realworld):
    stats = {s.plan_id: s for s in plan_stats(segmentation for _, segmentation in realworld.values())}
    sichuan = stats["sichuan-gwr-2026"]
    assert sichuan.by_kind["heading"] == 13 and sichuan.by_kind["note"] >= 20
    assert sichuan.chrome_lines >= 20
    assert stats["taipei-neihu-plan-zh-hant"].by_kind["table_row"] > 20
    assert stats["liaoning-gwr-2026-wrapped30"].soft_breaks > 500
