"""Ingestion: documents of one index are segmented knowing each other."""

from __future__ import annotations

from test_store import fake_encoder

from semplan.ingest import index_paths
from semplan.store import Corpus

FOOTER = "本站由星辰信息科技维护"
PLANS = {
    "city-2021": f"{FOOTER}\n\n某市教育局2021年工作要点\n\n一、推进学前教育普惠发展\n\n1.扩大普惠性资源。新建幼儿园十所，增加学位三千个。\n\n"
    f"2.加强师资队伍建设。培训教师两千人次。\n\n{FOOTER}\n",
    "county-2022": f"{FOOTER}\n\n某县教育局2022年工作要点\n\n一、提高义务教育质量\n\n1.推进集团化办学。组建教育集团五个。\n\n"
    f"2.落实双减政策。规范校外培训机构。\n\n{FOOTER}\n",
}


def test_a_footer_no_list_names_is_chrome_when_plans_share_it(tmp_path):
    for plan_id, text in PLANS.items():
        (tmp_path / f"{plan_id}.txt").write_text(text, encoding="utf-8")
    encoder = fake_encoder()
    with Corpus.create(tmp_path / "index", encoder.identity()) as corpus:
        index_paths(corpus, [tmp_path / "city-2021.txt"], encoder=encoder)
        alone = [clause.text for clause in corpus.clauses("city-2021")]
        # Added later, the second plan is segmented against the stored one: the shared footer goes.
        index_paths(corpus, [tmp_path / "county-2022.txt"], encoder=encoder)
        texts = [clause.text for clause in corpus.clauses("county-2022")]
    assert FOOTER in alone  # one plan alone cannot tell its footer from content
    assert FOOTER not in texts and "推进集团化办学。" in texts
