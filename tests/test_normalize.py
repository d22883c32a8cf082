"""Matching text folds width, script, spacing and quotes so equal clauses compare equal."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semplan.normalize import matching_text, to_simplified

# Daqing's traditional text (machine-converted from simplified) next to how a simplified plan says it.
CROSS_SCRIPT_PAIRS = [
    ("實施『安吉游戲』推廣計劃", "实施“安吉游戏\"推广计划"),
    ("開展幼兒園『小學化』治理", "开展幼儿园“小学化”治理"),
    ("優化課後服務工作體系", "优化课后服务工作体系"),
    ("嚴格落實『四零承諾』", "严格落实“四零承诺”"),
    ("緊盯群眾反映強烈的在職教師辦班補課", "紧盯群众反映强烈的在职教师办班补课"),
]


@pytest.mark.parametrize(("traditional", "simplified"), CROSS_SCRIPT_PAIRS)
def test_traditional_and_simplified_clauses_get_the_same_matching_text(traditional, simplified):
    assert matching_text(traditional) == matching_text(simplified)


@pytest.mark.parametrize(
    ("artifact", "expected"),
    [("人纔", "人才"), ("提昇", "提升"), ("標准", "标准"), ("規范", "规范")],
)
def test_conversion_artifacts_in_the_daqing_plan_fold_back(artifact, expected):
    assert to_simplified(artifact) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("呼教发〔2 0 2 1〕6号", "呼教发〔2021〕6号"),  # OCR spaces inside a number
        ("请认真学 习领会 , 抓好贯彻落实。 要对照", "请认真学习领会,抓好贯彻落实。要对照"),
        ("遵照自愿、 免费、 因材施教的原则", "遵照自愿、免费、因材施教的原则"),
        ("ＡＢＣ１２３，ｘ", "ABC123,x"),  # NFKC width folding
        ("年内建成3一5所", "年内建成3-5所"),  # 一 typed as a range dash
        ("『1+X』試點", '"1+X"试点'),
        ("\ufeff漢字\u200b", "汉字"),
        ("Keep   words  apart", "Keep words apart"),
    ],
)
def test_spacing_width_and_quotes(raw, expected):
    assert matching_text(raw) == expected


def test_real_daqing_clause_matches_its_hulunbuir_counterpart(sample_clauses):
    daqing = [c for c in sample_clauses if c.plan_id == "daqing-2021" and "安吉" in c.text]
    hulunbuir = [c for c in sample_clauses if c.plan_id == "hulunbuir-2021" and "安吉" in c.text]
    assert daqing and hulunbuir
    phrase = '实施"安吉游戏"推广计划'
    assert phrase in daqing[0].match_text
    assert phrase in hulunbuir[0].match_text
    # The display text stays as in the source.
    assert "實施『安吉游戲』推廣計劃" in daqing[0].text


def test_footnote_references_inside_sentences_are_dropped():
    assert matching_text("火灾呈现“一降三减”［1］良好态势。") == '火灾呈现"一降三减"良好态势。'
    assert matching_text("ESI［5］全球排名前1%") == "ESI全球排名前1%"
    # At the start it is a glossary entry's number, part of the entry.
    assert matching_text("［5］ESI：基本科学指标数据库。") == "[5]ESI:基本科学指标数据库。"


def test_matching_text_is_stable_on_the_sample_clauses(sample_clauses):
    for clause in sample_clauses:
        assert matching_text(clause.match_text) == clause.match_text, clause.clause_id


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_matching_text_never_raises(text):
    result = matching_text(text)
    assert isinstance(result, str)
    assert result == result.strip()
