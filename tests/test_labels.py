"""Priority labels an analyst would write: content words, no fragments, typos or place names,
merged substrings, and the user's own stop words and terms."""

from __future__ import annotations

import numpy as np

from semplan.cluster import LabelWords, class_keywords, clause_terms, read_label_words


def test_fragments_adverbs_time_words_and_places_are_no_labels():
    terms = clause_terms("7月底前完成国家统编教材三科教师全员培训")
    assert "月底" not in terms and "统编教材" in terms
    assert "特别" not in clause_terms("加强网络,特别是师生自媒体管理")
    assert not any("清远" in term for term in clause_terms("推动清远市特殊教育发展"))
    assert all(len(term) >= 2 for term in clause_terms("落实双减政策,做好课后服务"))
    assert {"双减", "课后服务"} <= set(clause_terms("落实双减政策,做好课后服务"))


def test_a_label_word_needs_two_clauses_of_two_plans():
    texts = [
        "推动学前教育普豕普惠发展",  # an OCR typo in one plan
        "推动学前教育普豕普惠发展水平",
        "推进学前教育普及普惠",
        "学前教育普及普惠再上台阶",
    ]
    plans = ["a", "a", "b", "c"]
    keywords = class_keywords([clause_terms(t) for t in texts], np.array([0, 0, 0, 0]), plan_of=plans)
    assert keywords[0] and not any("豕" in word for word in keywords[0]), keywords


def test_substrings_merge_into_the_compound():
    texts = ["健全课后服务经费保障机制", "拓宽课后服务资源渠道", "优化课后服务工作体系", "加强校外培训机构监管"]
    keywords = class_keywords([clause_terms(t) for t in texts], np.array([0, 0, 0, 1]), plan_of=["a", "b", "c", "a"])
    assert keywords[0][0] == "课后服务"
    assert "课后" not in keywords[0] and "服务" not in keywords[0]


def test_user_stop_words_and_terms(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("# mine\n资源\n+普特融合\n+德\n", encoding="utf-8")
    words = read_label_words(path)
    assert words == LabelWords(frozenset({"资源"}), frozenset({"普特融合", "德"}))
    terms = clause_terms("做好普特融合,拓宽课后服务资源渠道,促进德、智、体全面发展", words)
    assert "普特融合" in terms and "资源" not in terms and "德" in terms
    import jieba

    assert not jieba.dt.FREQ.get("普特融合")  # jieba's shared dictionary is not changed


def test_the_cli_takes_a_label_words_file(tmp_path):
    from semplan.cli import main  # noqa: F401 (the option is part of the shared clustering options)
    from semplan.cli._clustering import clustering_arguments

    path = tmp_path / "words.txt"
    path.write_text("资源\n", encoding="utf-8")
    options = {
        "min_cluster_size": None, "min_samples": None, "umap_dims": 5, "seed": 42, "assign_outliers": False,
        "assign_threshold": None, "match_threshold": None, "label_words": str(path),
    }  # fmt: skip
    assert clustering_arguments(options)["options"].label_words == str(path)


def test_a_three_word_term_is_a_candidate_and_its_halves_merge_into_it():
    # The sample report labelled a priority 教育领域综合 / 综合改革 (one term the text cut in two)
    # and another 教育评价改革 / 学生综合 / … (学生综合素质 cut before 素质).
    assert "教育领域综合改革" in clause_terms("深化教育领域综合改革")
    assert "学生综合素质" in clause_terms("提升学生综合素质评价")
    texts = ["深化教育领域综合改革", "推进教育领域综合改革试点", "教育领域综合改革方案", "加强学前教育"]
    keywords = class_keywords([clause_terms(text) for text in texts], np.array([0, 0, 0, -1]),
                              plan_of=["a", "b", "c", "a"])
    assert keywords[0][0] == "教育领域综合改革"
    assert not any(word in ("教育领域综合", "综合改革") for word in keywords[0])


def test_no_term_starts_inside_a_word_glued_to_a_single_character():
    # 新时代: jieba cuts 新 / 时代, and 时代教育督导体制 made a label.
    terms = clause_terms("深化新时代教育督导体制机制改革")
    assert "教育督导体制" in terms
    assert not any(term.startswith("时代") and term != "时代" for term in terms)


def test_overlapping_halves_of_one_term_do_not_both_label():
    texts = ["执行中小学教育惩戒规则", "落实中小学教育惩戒规则", "中小学教育惩戒规则试行", "加强学前教育"]
    keywords = class_keywords([clause_terms(text) for text in texts], np.array([0, 0, 0, -1]),
                              plan_of=["a", "b", "c", "a"])
    assert not ({"中小学教育惩戒", "教育惩戒规则"} <= set(keywords[0]))
