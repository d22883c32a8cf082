"""The segmenter on the five real sample plans, and its invariants on arbitrary input."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from semplan.errors import InvalidArgument
from semplan.segment import (
    CLAUSE_KINDS,
    Clause,
    format_spans,
    item_number_gaps,
    plan_stats,
    segment,
    segment_document,
    segment_text,
    span_extent,
)

BOILERPLATE = ["设为首页", "加入收藏", "联系我们", "扫一扫在手机打开当前页", "分享:", "浏览次数", "访问量",
               "发布时间", "来源:", "上传人", "文档编号", "点击查看更多", "展开阅读全文", "备案号"]
SENTENCE_END = "。！？!?；;"


@pytest.fixture(scope="module")
def texts(sample_documents):
    return {document.plan_id: document.text for document in sample_documents}


@pytest.fixture(scope="module")
def by_plan(sample_clauses):
    grouped: dict[str, list[Clause]] = {}
    for clause in sample_clauses:
        grouped.setdefault(clause.plan_id, []).append(clause)
    return grouped


# --- the whole corpus ---------------------------------------------------------------------------


def test_total_clause_count_is_sentence_level(sample_clauses):
    assert 550 <= len(sample_clauses) <= 750
    lengths = sorted(len(clause.text) for clause in sample_clauses)
    assert 20 <= lengths[len(lengths) // 2] <= 60  # median: sentences, not whole items


def test_every_clause_reads_back_from_its_spans(sample_clauses, texts):
    for clause in sample_clauses:
        source = texts[clause.plan_id]
        assert "".join(source[start:end] for start, end in clause.spans) == clause.text, clause.clause_id
        assert clause.text == clause.text.strip() and "\n" not in clause.text


def test_clauses_are_ordered_disjoint_and_numbered(by_plan):
    for plan_id, clauses in by_plan.items():
        assert [clause.n for clause in clauses] == list(range(1, len(clauses) + 1))
        assert len({clause.clause_id for clause in clauses}) == len(clauses)
        flat = [span for clause in clauses for span in clause.spans]
        assert all(a[1] <= b[0] for a, b in zip(flat, flat[1:], strict=False)), plan_id
        assert all(clause.kind in CLAUSE_KINDS for clause in clauses)


def test_no_clause_holds_boilerplate(sample_clauses):
    for clause in sample_clauses:
        for chrome in BOILERPLATE:
            assert chrome not in clause.text, (clause.clause_id, chrome)
        assert not re.search(r"第\s*\d+\s*页\s*/\s*共\s*\d+\s*页", clause.text)


def test_long_clauses_are_single_sentences(sample_clauses):
    for clause in sample_clauses:
        if len(clause.text) <= 300:
            continue
        inner = clause.text.rstrip(SENTENCE_END + "”\"")
        # A lead is kept as one clause per sentence (the issue: "yields one lead clause"); it may
        # list aims with `;` but has no full stop inside.
        separators = "。！？!?" if clause.kind == "lead" else SENTENCE_END
        assert not any(mark in inner for mark in separators), clause.clause_id


def test_short_fragments_are_merged(sample_clauses):
    for clause in sample_clauses:
        if clause.kind == "sentence":
            assert sum(ch.isalnum() for ch in clause.text) >= 8, clause.clause_id


def test_segmentation_is_deterministic(sample_documents, by_plan):
    document = sample_documents[0]
    assert segment_document(document) == by_plan[document.plan_id]


# --- structure per plan --------------------------------------------------------------------------


EXPECTED_STRUCTURE = {
    # plan: (sections, item numbers per section)
    "hulunbuir-2021": (6, None, 27),
    "city-2019": (5, None, 27),
    "qingyuan-2022": (7, None, 37),
    "xx-county-2021": (3, [3, 6, 10], 19),
}


@pytest.mark.parametrize("plan_id", sorted(EXPECTED_STRUCTURE))
def test_items_are_numbered_without_gaps(by_plan, plan_id):
    sections, per_section, n_items = EXPECTED_STRUCTURE[plan_id]
    clauses = by_plan[plan_id]
    assert item_number_gaps(clauses) == []
    items = list(dict.fromkeys((c.section_number, c.item_number) for c in clauses if c.item_number))
    assert len(items) == n_items
    assert sorted({section for section, _ in items}) == list(range(1, sections + 1))
    if per_section is None:
        assert [number for _, number in items] == list(range(1, n_items + 1))
    else:
        for section, count in enumerate(per_section, start=1):
            assert [n for s, n in items if s == section] == list(range(1, count + 1))
    titles = [c for c in clauses if c.kind == "item_title"]
    assert len(titles) == n_items  # every item in these plans has a title


def test_hulunbuir_marker_variants_and_false_markers(by_plan):
    clauses = by_plan["hulunbuir-2021"]
    titles = {c.item_number: c.text for c in clauses if c.kind == "item_title"}
    assert titles[1] == "强化党的创新理论武装。"  # `1 ·`
    assert titles[3] == "牢牢掌握意识形态领导权。"  # `3 .`
    assert titles[10] == "提高学前教育普豕普惠水平。"  # `1 0 ·`
    assert titles[12] == "私极探索普通高中教学改革。"  # `12 · `
    assert titles[13] == "提升职业教育育人水平。"  # `1 3 ·`
    assert any("信息化2 · 0行动计划" in c.text for c in clauses)  # not an item marker
    continuation = next(c for c in clauses if c.text.startswith("7月底前完成国家统编教材"))
    assert continuation.item_number == 20 and continuation.kind == "sentence"
    lead = [c for c in clauses if c.kind == "lead"]
    assert len(lead) == 1 and lead[0].text.startswith("2021年是“十四五\"开局之年")
    assert not any("现将《呼伦贝尔市" in c.text for c in clauses)  # the transmittal letter is front matter


def test_city_duplicated_lead_yields_one_lead_clause(by_plan, texts):
    clauses = by_plan["city-2019"]
    leads = [c for c in clauses if c.kind == "lead"]
    assert len(leads) == 1
    assert leads[0].text.startswith("2019年全市教育工作的总体思路是")
    assert leads[0].text.endswith("做出新贡献。")
    assert texts["city-2019"].count("2019年全市教育工作的总体思路是") == 2
    assert sum("总体思路" in c.text for c in clauses) == 1
    assert not any("本文内容" in c.text or "以人民为中心的发市" in c.text for c in clauses)
    assert not any("2019年工作要点" in c.text for c in clauses)  # the title, scraped 4×


def test_city_run_on_line_headings_and_percentages(by_plan):
    clauses = by_plan["city-2019"]
    first = next(c for c in clauses if c.item_number == 1)
    assert first.section_title == "深入学习贯彻习近平新时代中国特色社会主义思想,大力推进XX教育现代化"
    assert first.text == "抓好全国教育大会精神的学习宣传。"
    assert any("毛入学率达到90.5%以上" in c.text and c.item_number == 19 for c in clauses)
    assert any("98.5%" in c.text and c.item_number == 21 for c in clauses)


def test_county_page_markers_are_removed_and_cut_words_joined(by_plan, texts):
    clauses = by_plan["xx-county-2021"]
    source = texts["xx-county-2021"]
    for clause in clauses:
        assert not re.search(r"(^|\D)\d{1,2}、、", clause.text), clause.text
        assert not re.match(r"\d{1,2}、", clause.text), clause.text
    joined = {
        "做到政策公开、过程公开": "4、、",
        "加强高考选课指导和考后报考辅导": "11、",
        "更加重视安全演练": "14、",
        "大力推进名师空中课堂": "19、",
    }
    for words, marker in joined.items():
        clause = next(c for c in clauses if words in c.text)
        assert len(clause.spans) == 2, words
        gap = source[clause.spans[0][1]:clause.spans[1][0]]
        assert marker.rstrip("、") + "、" in gap and gap.strip().startswith(marker.rstrip("、")), gap
    title = next(c for c in clauses if c.text == "教育资源扩容行动。")
    assert title.kind == "item_title" and title.item_number == 5 and len(title.spans) == 2
    assert [c.kind for c in clauses].count("lead") == 1
    second = next(c for c in clauses if c.section_number == 2)
    assert second.section_title == "健全完善“六大体系:在系统化方法上求破解"


def test_qingyuan_fused_titles_and_unpunctuated_items(by_plan):
    clauses = by_plan["qingyuan-2022"]
    titles = {c.item_number: c.text for c in clauses if c.kind == "item_title"}
    assert titles[1] == "坚定不移用习近平新时代中国特色社会主义思想铸魂育人"
    assert titles[2] == "持之以恒加强党的建设"
    assert titles[5] == "落实《广东省推动基础教育高质量发展行动方案》。"
    nine = [c for c in clauses if c.item_number == 9]
    assert nine[-1].text.endswith("“清远市品牌民办高中学校”")  # an item with no final 。
    assert not any("扫一扫" in c.text or "清远市教育局" == c.text for c in clauses)


def test_daqing_subheadlines_become_titles(by_plan):
    clauses = by_plan["daqing-2021"]
    titles = [c.text for c in clauses if c.kind == "item_title"]
    assert titles == [
        "小區配套幼兒園回歸公益屬性", "初中作業不超綱,小學作業校內完成", "開展『選課走班』和生涯規劃教育",
        "職業教育專業設置更『接地氣』", "健全9個社區教育學院組織架構", "勞動教育納入教學,開設必修課程",
        "持續減少教師非教學負擔", "配齊配強校園專職安保人員",
    ]
    assert not any("東北網" in c.text for c in clauses)
    body = next(c for c in clauses if c.text.startswith("實施『安吉游戲』推廣計劃"))
    assert body.item_title == "小區配套幼兒園回歸公益屬性"
    assert body.path == "小區配套幼兒園回歸公益屬性"


def test_clause_path_names_section_and_item(by_plan):
    clause = next(c for c in by_plan["hulunbuir-2021"] if c.item_number == 5 and c.kind == "sentence")
    assert clause.path == "二、坚持立德树人,构建全员全过程全方位育人体系 › 5. 全力推进国家统编教材工作"


def test_dev_gold_snippets_fall_inside_one_clause(dev_gold, by_plan):
    references = []
    for query in dev_gold["queries"]:
        references.append((query["source_plan"], query["query"], query["query_offset"]))
        for match in query["matches"]:
            references += [(match["plan"], s, o) for s, o in zip(match["snippets"], match["offsets"], strict=True)]
    for query in dev_gold["paraphrase_queries"]:
        references += [(e["plan"], e["snippet"], e["offset"]) for e in query["expected_top5"]]
    for theme in dev_gold["themes"]:
        for plan_id, support in theme["plans"].items():
            if support.get("snippet"):
                references.append((plan_id, support["snippet"], support["offset"]))
    assert len(references) > 30
    for plan_id, snippet, offset in references:
        hits = [c for c in by_plan[plan_id] if any(s <= offset < e for s, e in c.spans)]
        assert len(hits) == 1, (plan_id, snippet)
        assert snippet in hits[0].text, (plan_id, snippet, hits[0].text)


def test_plan_stats(sample_clauses):
    stats = {s.plan_id: s for s in plan_stats(sample_clauses)}
    assert set(stats) == {"city-2019", "daqing-2021", "hulunbuir-2021", "qingyuan-2022", "xx-county-2021"}
    assert sum(s.clauses for s in stats.values()) == len(sample_clauses)
    assert stats["xx-county-2021"].sections == 3 and stats["xx-county-2021"].items == 19
    assert all(s.item_gaps == () for s in stats.values())


# --- small inputs ---------------------------------------------------------------------------------


def test_gap_in_the_source_numbering_is_kept_and_reported():
    text = "一、总则\n1.第一项工作要认真做好。\n2.第二项工作要认真做好。\n4.第四项工作要认真做好。\n"
    clauses = segment(text, "gap")
    assert [c.item_number for c in clauses if c.kind == "item_title"] == [1, 2, 4]
    assert item_number_gaps(clauses) == [(2, 4)]


def test_numbered_items_with_ideographic_comma_are_not_page_markers():
    text = "一、加强党建\n1、加强党的建设工作。\n2、推进基层组织建设。\n3、落实从严治党责任。\n"
    clauses = segment(text, "p")
    assert [c.item_number for c in clauses if c.kind == "item_title"] == [1, 2, 3]


def test_text_without_structure_is_split_into_sentences():
    clauses = segment("这是第一句话,没有任何结构。这是第二句话,也没有结构!", "plain")
    assert [c.text for c in clauses] == ["这是第一句话,没有任何结构。", "这是第二句话,也没有结构!"]
    assert all(c.kind == "sentence" and c.item_number is None for c in clauses)


def test_front_matter_before_the_first_heading_is_dropped_only_when_short():
    body = "".join(f"{n}.第{n}项工作的标题。这一项工作要认真抓好落实。\n" for n in range(1, 9))
    titled = "某市教育局文件\n某教发〔2021〕1号\n一、总体安排\n" + body
    clauses = segment(titled, "t")
    assert [(c.kind, c.text) for c in clauses[:2]] == [("heading", "总体安排"), ("item_title", "第1项工作的标题。")]
    assert not any("教育局文件" in c.text for c in clauses)
    # A long preamble before a late heading is text of the plan, not chrome: kept as sentences.
    preamble = "".join(f"这是说明部分的第{n}句话,内容相当重要。" for n in range(1, 30)) + "\n"
    clauses = segment(preamble + "1.只有一项工作的标题。这一项工作要认真落实。\n", "late")
    assert clauses[0].text == "这是说明部分的第1句话,内容相当重要。"
    assert clauses[-1].item_number == 1


def test_a_late_mention_of_the_lead_key_does_not_drop_the_text_before_it():
    text = "".join(f"第{n}段正文内容,讲的是具体工作安排。\n" for n in range(1, 20)) + "会议明确了总体思路和重点任务。\n"
    clauses = segment(text, "prose")
    assert len(clauses) == 20 and all(c.kind == "sentence" for c in clauses)


def test_chrome_words_inside_prose_are_kept():
    text = ("设为首页|加入收藏|联系我们\n发布时间:2021-07-16 浏览次数:\n"
            "分享经验做法,推广各地典型案例。\n来源于基层的好做法要及时总结推广。\n"
            "学校要主动联系我们的合作单位,共同推进劳动教育。\n分享:\n")
    assert [c.text for c in segment(text, "prose")] == [
        "分享经验做法,推广各地典型案例。", "来源于基层的好做法要及时总结推广。", "学校要主动联系我们的合作单位,共同推进劳动教育。",
    ]


def test_document_site_chrome_is_found_by_its_shape():
    """Lines no list names: a title glued to its download badge, a file card, a footer link."""
    text = ("市教育局2022年工作要点VIP专免\n2024-06-03999+29.51KB24 页海报侵权投诉\n一、加强党的建设\n"
            "1.推进基层党组织标准化建设，全面提升组织力。\n2.加强意识形态工作，落实意识形态工作责任制。\n"
            "》》点击图片进入专题《《收藏|×相关文档：\n")
    segmentation = segment_text(text, "site")
    assert [c.text for c in segmentation.clauses] == [
        "加强党的建设", "推进基层党组织标准化建设，全面提升组织力。", "加强意识形态工作，落实意识形态工作责任制。"]
    assert [number for number, _, _ in segmentation.lines.chrome] == [1, 2, 6]


def test_photo_caption_and_inline_markup_breaks():
    """`宁夏日报记者 王鼎 摄各位代表：` stayed in; `主要目标` and `揭榜` were cut out as items."""
    text = ("一、过去一年工作回顾\n过去一年，我们围绕\n主要目标\n，扎实推进各项工作，全年地区生产总值增长5.5%。\n"
            "2月3日，市十七届人大五次会议开幕。 宁夏日报记者 王鼎 摄\n各位代表：\n"
            "实施科技“\n揭榜\n挂帅”项目30项，带动企业研发投入增长12%。\n")
    clauses = segment(text, "report")
    assert [(c.kind, c.text.replace("\n", "")) for c in clauses] == [
        ("heading", "过去一年工作回顾"),
        ("sentence", "过去一年，我们围绕主要目标，扎实推进各项工作，全年地区生产总值增长5.5%。"),
        ("sentence", "各位代表：实施科技“揭榜挂帅”项目30项，带动企业研发投入增长12%。"),
    ]
    assert len(clauses[1].spans) == 3


def test_a_subscript_on_its_own_line_is_not_an_item():
    text = "一、主要目标\n全市空气质量持续改善，细颗粒物（PM\n2.5\n年平均浓度控制在30微克/立方米以下。\n1.加强大气污染防治。\n"
    clauses = segment(text, "air")
    assert [c.text for c in clauses] == [
        "主要目标", "全市空气质量持续改善，细颗粒物（PM\n2.5\n年平均浓度控制在30微克/立方米以下。".replace("\n", ""),
        "加强大气污染防治。"]
    assert [c.item_number for c in clauses] == [None, None, 1]


def test_hard_wrapped_text_is_joined_and_item_titles_stay_apart():
    """Text out of a PDF, wrapped at 20 characters: an item title on a short line of its own stays
    a title (the old PDF reflow glued it to its body); wrapped sentences are whole again."""
    body = ("全面贯彻党的教育方针，落实立德树人根本任务，深化教育评价改革，推进义务教育优质均衡发展，"
            "扩大普惠性学前教育资源，办好人民满意的教育。")
    items = [f"{n}.第{n}项重点工作\n" + "\n".join(body[i:i + 20] for i in range(0, len(body), 20)) for n in range(1, 5)]
    text = "一、重点任务\n" + "\n".join(items) + "\n"
    clauses = segment(text, "pdf")
    assert [c.kind for c in clauses] == ["heading"] + ["item_title", "sentence"] * 4
    assert all(c.text.replace("\n", "") == body and len(c.spans) == 4 for c in clauses if c.kind == "sentence")
    assert [c.text for c in clauses if c.kind == "item_title"] == [f"第{n}项重点工作" for n in range(1, 5)]


def test_a_glossary_at_the_end_is_notes_not_items():
    text = ("一、重点工作\n1.加强党的建设。推进基层党组织建设。\n2.深化教育改革。推进“双减”落地见效。\n"
            "名词解释\n1.“双减”：有效减轻义务教育阶段学生过重作业负担和校外培训负担。\n"
            "2.“五育并举”：德智体美劳全面发展。\n")
    clauses = segment(text, "glossary")
    assert [(c.kind, c.item_number) for c in clauses] == [
        ("heading", None), ("item_title", 1), ("sentence", 1), ("item_title", 2), ("sentence", 2),
        ("heading", None), ("note", None), ("note", None)]
    assert clauses[-1].text == "2.“五育并举”：德智体美劳全面发展。" and clauses[-1].section_title == "名词解释"


def test_a_chrome_phrase_inside_a_long_line_never_drops_the_line():
    """A 2 MB content line holding one chrome phrase gave 0 clauses: only the phrase goes now."""
    line = "推进教育数字化转型，建设智慧校园示范校。" * 60_000 + "设为首页|加入收藏" + "加强教师队伍建设，提高教师待遇。" * 10_000
    assert len(line.encode("utf-8")) > 2_000_000
    clauses = segment(line + "\n", "big")
    assert len(clauses) == 70_000
    assert sum(len(c.text) for c in clauses) == len(line) - len("设为首页|加入收藏")
    # A counter label inside a sentence is prose, not chrome.
    assert [c.text for c in segment("网站浏览次数达到100万人次，群众满意度明显提升。\n", "p")] == [
        "网站浏览次数达到100万人次，群众满意度明显提升。"]


def test_empty_and_blank_text_give_no_clauses():
    assert segment("", "e") == []
    assert segment(" \n\n\u3000\n", "e") == []


def test_clause_rejects_bad_spans():
    with pytest.raises(InvalidArgument):
        Clause("p", 1, "sentence", "ab", "ab", ((3, 5), (4, 6)))
    with pytest.raises(InvalidArgument):
        Clause("p", 1, "paragraph", "ab", "ab", ((0, 2),))
    with pytest.raises(ValueError):  # InvalidArgument is a ValueError too
        Clause("p", 1, "sentence", "ab", "ab", ())


def test_spans_are_written_one_way(by_plan):
    clause = next(c for c in by_plan["xx-county-2021"] if "加强高考选课指导和考后报考辅导" in c.text)
    (first_start, first_end), (second_start, second_end) = clause.spans
    assert format_spans(clause.spans) == f"{first_start}-{first_end}+{second_start}-{second_end}"
    assert clause.extent == span_extent(clause.spans) == (first_start, second_end)


# --- properties -------------------------------------------------------------------------------------

# Pieces that exercise every rule: markers, page markers, boilerplate, lead keys, punctuation.
PIECES = st.sampled_from([
    "一、", "二、", "（一）", "1.", "1 ·", "2 .", "1 0 ·", "4. .", "3、", "4、、", "\n", "\n\n", "。", "；", ";",
    "!", "?", "“", "”", "『", "』", " ", "\u3000", "\xa0", "总体思路", "加强教育工作", "推进改革", "90.5%",
    "2 · 0", "2021.", "设为首页", "第1页 / 共12页", "工作要点", "2021年", "XX", "abc", "\r\n", "\ufeff",
    # line structure, chrome by shape, notes and tables
    "<table>", "<tr>", "<td>", "</td>", "</tr>", "</table>", "| 任务 | 单位 |", "|---|---|", "## ", "- ", "![图](a/b)",
    "\u200b", "注释", "名词解释", "附件", "［1］", "VIP", "2024-06-03 09:45", "本报记者 王鼎 摄", "PM", "2.5", "揭榜",
    "下载", "》》", "：", "，", "（", "）", "各位代表：", "a" * 30,
])
STRUCTURED = st.lists(st.one_of(PIECES, st.text(max_size=6)), max_size=60).map("".join)


def _check_invariants(text: str) -> None:
    clauses = segment(text, "prop")
    previous_end = 0
    for index, clause in enumerate(clauses, start=1):
        assert clause.n == index
        assert clause.spans
        for start, end in clause.spans:
            assert 0 <= previous_end <= start < end <= len(text)
            previous_end = end
        assert "".join(text[s:e] for s, e in clause.spans) == clause.text
        assert clause.text.strip() == clause.text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_arbitrary_unicode_never_breaks_the_invariants(text):
    _check_invariants(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STRUCTURED)
def test_plan_like_input_never_breaks_the_invariants(text):
    _check_invariants(text)


def test_kinds_are_counted_per_plan(by_plan):
    kinds = Counter(c.kind for c in by_plan["qingyuan-2022"])
    assert kinds["lead"] == 1 and kinds["item_title"] == 37
