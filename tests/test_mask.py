"""Names masked for matching: what counts as a place name, what does not, and that the sample's
priorities are no longer held together by one (real model, real text)."""

from __future__ import annotations

import pytest

from semplan.mask import MASK_TOKEN, gazetteer, mask_names, mask_plan, plan_names


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("推动《清远市教育发展“十四五”规划》落地实施;", "推动《某地教育发展“十四五”规划》落地实施;"),
        ("大庆市特殊教育学校", "某地特殊教育学校"),
        ("呼伦贝尔市教育局", "某地教育局"),
        ("完善XX终身学习平台建设", "完善某地终身学习平台建设"),
        ("XX县教育局", "某地教育局"),
        ("广州清远两市结对帮扶", "某地两市结对帮扶"),  # two names in a row are one place
    ],
)
def test_place_names_become_one_token(text, expected):
    assert mask_names(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "确保定期开展安全检查",  # 保定 is a city, 确保定期 is not
        "振兴县域经济",  # 兴县 is a county
        "出台支持中南部县城发展的政策",  # 南部县 is a county
        "精简文山会海",
        "加强城市社区教育",
        "落实全市教育工作会议精神",
    ],
)
def test_ordinary_words_are_not_names(text):
    assert mask_names(text) == text


@pytest.mark.parametrize(
    "text",
    ["推进教师城乡交流不少于XXX名", "20XX年计划招聘教师", "选树德育品牌学校XX所", "培训XXX人次"],
)
def test_an_anonymised_number_is_not_a_name(text):
    # xx-county-2021's 不少于XXX名 was masked to 不少于某地名: a place where a head count was.
    assert mask_names(text) == text


def test_the_display_text_is_never_touched():
    texts = ["清远市推进特殊教育", "特殊教育"]
    masked = mask_plan(texts)
    assert masked == [f"{MASK_TOKEN}推进特殊教育", "特殊教育"]
    assert texts == ["清远市推进特殊教育", "特殊教育"]


def test_a_plan_names_its_own_districts_and_metadata_adds_more():
    gaz = gazetteer()
    assert "内湖区" not in gaz.names  # a Taipei district: not in the mainland division codes
    names = plan_names(["推动内湖区科技园区发展", "内湖区学校"], extra=["北投"])
    assert {"内湖区", "内湖", "北投"} <= names
    assert mask_names("内湖学校与北投学校", names) == f"{MASK_TOKEN}学校与{MASK_TOKEN}学校"
    assert "中心区" not in plan_names(["城市中心区的学校"])  # 中心 is a noun, not a place


# ------------------------------------------------------------------ the sample corpus, real model


@pytest.fixture(scope="module")
def masked_sample_analysis(sample_dir, tmp_path_factory):
    """The sample as `semplan index` stores it (names masked by ingest), with the golden test's frozen
    vectors: the dynamic-int8 backend's vectors move with their batch mates, and a priority of four
    clauses can then gain or lose a member from run to run."""
    from golden import frozen_encoder

    from semplan.cluster import find_priorities
    from semplan.ingest import index_paths
    from semplan.store import Corpus

    encoder = frozen_encoder()
    with Corpus.create(tmp_path_factory.mktemp("masked") / "index", encoder.identity()) as corpus:
        index_paths(corpus, [sample_dir], encoder=encoder)
        assert all(MASK_TOKEN in clause.match_text for clause in corpus.clauses("qingyuan-2022")
                   if "清远" in clause.text)
        return find_priorities(corpus.clauses(), corpus.vectors(), seed=42, map_2d=False)


def test_no_sample_priority_is_held_together_by_a_place_name(masked_sample_analysis):
    from semplan.evaluation import place_bound_priorities

    assert place_bound_priorities(masked_sample_analysis) == []
    labels = " ".join(priority.label for priority in masked_sample_analysis.priorities)
    assert "清远" not in labels and MASK_TOKEN not in labels


def test_the_first_plan_a_process_masks_is_masked_as_every_later_one():
    """jieba loads its dictionary on its first cut; `plan_names` read the word frequencies before
    that, from the empty table the loading then replaced, so the first plan of every process (and of
    every Ray actor) kept its own place names unmasked: 澳门特别行政区 here."""
    import subprocess
    import sys

    program = (
        "from semplan.mask import mask_plan\n"
        "texts = ['向所有关心支持首都建设的香港特别行政区同胞、澳门特别行政区同胞、台湾同胞致以诚挚的感谢。']\n"
        "first = mask_plan(texts)\n"
        "print(first == mask_plan(texts), first[0])\n"
    )
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True, cwd=repo)
    same, masked = result.stdout.split()
    assert same == "True", masked
    assert "澳门特别行政区" not in masked


def test_no_sample_keyword_is_a_place_name(masked_sample_analysis):
    """Every keyword of every priority, checked with the masker's own detector (the gazetteer and
    each plan's names): a label naming a place says where, not what (the issue's P80, 清远市 /
    全科美育 / 出台, was twelve Qingyuan clauses with nothing else in common)."""
    from semplan.normalize import matching_text

    analysis = masked_sample_analysis
    names = plan_names(matching_text(clause.text) for clause in analysis.clauses)
    gaz = gazetteer()
    for priority in analysis.priorities:
        for keyword in priority.keywords:
            assert mask_names(keyword, names) == keyword, (priority.priority_id, keyword)
            assert not any(name in keyword for name in gaz.names), (priority.priority_id, keyword)
