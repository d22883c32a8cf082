"""Writes the synthetic year-on-year pairs and their labels: `python tests/data/compare/make_pairs.py`.

Each pair is a sample plan (A) and a next-year version (B) written by hand as edits of A's clauses:
rewordings (the same commitment in other words), changed figures, deletions, additions (some
placed beside an unchanged clause on the same topic, one in the place of a deleted clause) and
a moved clause. The edits below are the whole record of what differs; `labels-PAIR.json` lists,
for every clause of A and of B (by text), its expected status, partner and moved flag.

- `hulunbuir` (hulunbuir-2021 → hulunbuir-2022): the test set (tests/test_compare.py).
- `qingyuan` (qingyuan-2022 → qingyuan-2023): the calibration set the thresholds in
  semplan/compare.py were chosen on (docs/compare.md), never the set they are judged on.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent.parent
sys.path.insert(0, str(REPO))

from semplan.read import read_document  # noqa: E402
from semplan.segment import segment  # noqa: E402

PAIRS = {
    "hulunbuir": {
        "a": "hulunbuir-2021",
        "b": "hulunbuir-2022",
        "chrome": [
            ("关于印发《呼伦贝尔市教育党工委教育局2021年工作要点》", "关于印发《呼伦贝尔市教育党工委教育局2022年工作要点》"),
            ("发布时间:2021-07-16 20:55", "发布时间:2022-03-10 09:30"),
            ("呼教发〔2 0 2 1〕6号", "呼教发〔2 0 2 2〕3号"),
            ("现将《呼伦贝尔市教育党工委教育局2021年工作要点》", "现将《呼伦贝尔市教育党工委教育局2022年工作要点》"),
            ("呼伦贝尔市教育党工委教育局 2021年工作要点", "呼伦贝尔市教育党工委教育局 2022年工作要点"),
        ],
        "reworded": {
            1: [("2021年是“十四五\"开局之年", "2022年是党的二十大召开之年"),
                ("深入贯彻党的十九大和十九届二中、三中、四中、五中全会精神", "深入贯彻党的十九大和十九届历次全会精神"),
                ("为“十四五\"开好局、起好步,以优异成绩庆祝建党100周年。", "以优异成绩迎接党的二十大胜利召开。")],
            3: "持续深入学习习近平新时代中国特色社会主义思想,全面领会党的十九届六中全会精神实质,坚持用党的创新理论武装头脑、推动工作。",
            13: "加强各类意识形态阵地管理,在教材选用、教师招聘和学生活动中严格把好政治关。",
            29: "坚持从娃娃抓起,推动民族语言授课幼儿园全面使用国家通用语言文字开展保育教育。",
            38: "加强学校卫生与健康教育,扎实推进儿童青少年近视综合防控。",
            42: "坚持系统治理、依法治理、标本兼治,持续规范校外培训机构,巩固“双减\"成果。",
            56: "持续推进小班化教学改革,提升教研教改水平,建设高效课堂。",
            67: "深化产教融合、校企合作,全面推行现代学徒制。",
            87: "健全教师队伍补充机制。",
            92: "加大教师培训力度,着力提高市级培训的质量和实效。",
            108: "完善学生资助体系,落实各项资助政策,不断提高资助精准度。",
            119: "及时回应社会关切,澄清群众误解和网上杂音,牢牢掌握舆论主动权。",
            # Few words in common: the same commitment said anew.
            98: "让在乡村任教的老师生活有保障、收入逐年提高。",
            121: "主动与有关部门沟通配合,形成推动教育发展的合力。",
        },
        "figures": {
            24: [("年内建成3一5所", "年内建成5一8所")],
            47: [("至少办好1所公办幼儿园", "至少办好2所公办幼儿园")],
            54: [("小学不超过45人、初中不超过50人", "小学不超过40人、初中不超过45人")],
            55: [("稳定在95%以上", "稳定在96.5%以上")],
            90: [("确保3月底前全面完成补充工作,5月底前", "确保4月底前全面完成补充工作,6月底前")],
            95: [("7月底前完成", "8月底前完成"), ("再利用一个多月的时间", "再利用两个月的时间")],
        },
        "removed": [10, 39, 69, 122],
        # (after A clause n, text, beside an unchanged clause on the same topic?)
        "added": [
            (34, "到2022年底,全市新创建10所全国青少年校园足球特色学校。", True),
            (37, "建立健全学生心理健康监测预警机制,每学期开展一次心理健康筛查。", True),
            (111, "推进国家智慧教育平台在全市中小学的普及应用。", True),
            (57, "启动实施“强校工程\",推动薄弱学校提质增效。", False),
        ],
        # A clause n removed and an unrelated new clause written in its place.
        "replaced": {
            43: "全面落实“双减\"政策,严控书面作业总量,提高课后服务质量。",
            # The same topic (labour education), another commitment.
            36: "每所中小学每周安排不少于1课时的劳动课,建立学生劳动清单。",
        },
        # A clause n moved, unchanged, to after A clause m (in another section).
        "moved": {103: 38},
    },
    "qingyuan": {
        "a": "qingyuan-2022",
        "b": "qingyuan-2023",
        "chrome": [
            ("清远市2022年教育工作要点", "清远市2023年教育工作要点"),
            ("发布时间:2022-03-28", "发布时间:2023-03-20"),
            ("清远市2022教育工作要点", "清远市2023教育工作要点"),
        ],
        "reworded": {
            1: [("2022年,全市教育工作的总体思路是", "2023年,全市教育工作的总体思路是"),
                ("认真贯彻党的十九大和十九届历次全会精神", "全面贯彻党的二十大精神"),
                (",以实际行动迎接党的二十大胜利召开。", "。")],
            5: "持续巩固党史学习教育成果,健全“我为群众办实事”常态化长效机制。",
            12: "深入研判意识形态领域风险隐患,做好教育舆情尤其是网络舆情的监测、引导和处置。",
            32: "稳妥推进乡镇学校适度集中办学,改善农村学校办学和生活条件,推动城乡教育一体化发展。",
            46: "充分发挥省职教城的引领带动作用,调整优化专业布局,深化产教融合和校企合作,推动中高职贯通培养与现代学徒制培养。",
            54: "鼓励中小学、幼儿园结合实际创建体育项目特色学校,推动学校体育一校一品、一校多品发展。",
            67: "实施心理健康教师素质提升工程,加强专兼职心理教师培训,提升其专业能力。",
            74: "指导学校充分挖掘校内资源,统筹引入科普、文化、体育等社会资源,增强课后服务的吸引力和有效性。",
            100: "深入开展师德师风主题教育活动,持续提升教师的思想政治素质和职业道德修养。",
            126: "坚持依法行政,严格开展规范性文件和重大行政决策的合法性审查。",
            139: "加强教育经费使用管理,科学编制预算,持续优化支出结构。",
            # Few words in common: the same commitment said anew.
            66: "保证每个年级都有心理健康课时,让学校的心理辅导服务更专业。",
            98: "做好普通话等级测试,在扩大规模的同时保证测试质量。",
            140: "要求各校按制度管好用好教育资金,让每一笔经费都花出效益。",
        },
        "figures": {
            23: [("2000个,义务教育公办学位20500个", "3000个,义务教育公办学位18000个")],
            34: [("控制在0.5%以下", "控制在0.3%以下"), ("比例达到85%以上", "比例达到88%以上")],
            57: [("优良率达50%以上", "优良率达55%以上")],
            63: [("创建30所市级", "创建40所市级")],
            81: [("年内争取有2个以上", "年内争取有3个以上")],
            119: [("不少于135名,派出跟岗校长教师不少于135名", "不少于150名,派出跟岗校长教师不少于150名")],
        },
        "removed": [15, 21, 51, 148],
        "added": [
            (53, "推进校园足球、篮球等项目联赛,每年举办全市中小学生运动会。", True),
            (96, "开展第26届全国推广普通话宣传周活动。", True),
            (146, "推动学校食堂“互联网+明厨亮灶”覆盖率达到100%。", True),
            (136, "设立教育发展专项资金,支持薄弱学校改造提升。", False),
        ],
        "replaced": {
            89: "推进中考命题改革,加强对学生思维能力和实践能力的考查。",
            # The same topic, another commitment.
            31: "实施农村寄宿制学校食堂改造,配齐生活老师。",
            113: "2023年起新聘教师一律实行公开招聘,不再新增临聘人员。",
        },
        "moved": {128: 50},
    },
}


def sample(plan_id: str) -> Path:
    return REPO / "semplan" / "data" / "sample_plans" / f"{plan_id}.txt"


def make_pair(name: str, edits: dict) -> dict:
    source = read_document(sample(edits["a"])).text
    all_clauses = segment(source, edits["a"])
    # The edits below number A's clauses as the segmenter did before section headings became
    # clauses of their own: the n-th clause that is not a heading.
    clauses = dict(enumerate((clause for clause in all_clauses if clause.kind != "heading"), start=1))
    # (start, end, replacement) over A's source; applied from the end so offsets stay valid.
    changes: list[tuple[int, int, str]] = []
    labels_a: dict[int, dict] = {n: {"status": "same"} for n in clauses}
    b_texts: dict[str, dict] = {}

    def span(n: int) -> tuple[int, int]:
        return clauses[n].extent

    for old, new in edits["chrome"]:
        assert source.count(old) == 1, old
        start = source.index(old)
        changes.append((start, start + len(old), new))
    for kind in ("reworded", "figures"):
        for n, edit in edits[kind].items():
            text = clauses[n].text
            if isinstance(edit, str):
                new_text = edit
            else:
                new_text = text
                for old, new in edit:
                    assert new_text.count(old) == 1, (n, old)
                    new_text = new_text.replace(old, new)
            changes.append((*span(n), new_text))
            labels_a[n] = {"status": "reworded", "kind": "figures" if kind == "figures" else "rewording", "b": new_text}
            b_texts[new_text] = {"status": "reworded", "a": text}
    for n in edits["removed"]:
        start, end = span(n)
        changes.append((start, end, ""))
        labels_a[n] = {"status": "removed"}
    for n, new_text in edits["replaced"].items():
        changes.append((*span(n), new_text))
        labels_a[n] = {"status": "removed"}
        b_texts[new_text] = {"status": "added", "in_place_of": clauses[n].text}
    for after, new_text, beside in edits["added"]:
        end = span(after)[1]
        changes.append((end, end, new_text))
        b_texts[new_text] = {"status": "added", "after": clauses[after].text, "beside_same_topic": beside}
    for n, after in edits["moved"].items():
        start, end = span(n)
        changes.append((start, end, ""))
        changes.append((span(after)[1], span(after)[1], clauses[n].text))
        labels_a[n] = {"status": "same", "moved": True}
        b_texts[clauses[n].text] = {"status": "same", "moved": True, "a": clauses[n].text}
    changes.sort(key=lambda change: (change[0], change[1]))
    text = source
    for start, end, new in reversed(changes):
        text = text[:start] + new + text[end:]
    (HERE / f"{edits['a']}.txt").write_text(source, encoding="utf-8")
    (HERE / f"{edits['b']}.txt").write_text(text, encoding="utf-8")

    b_clauses = segment(text, edits["b"])
    a_by_text = {clause.text: clause.n for clause in all_clauses}
    ordinal = {clause.n: n for n, clause in clauses.items()}
    labels = {"a": edits["a"], "b": edits["b"], "a_clauses": [], "b_clauses": []}
    for clause in all_clauses:
        label = labels_a[ordinal[clause.n]] if clause.n in ordinal else {"status": "same"}
        labels["a_clauses"].append({"n": clause.n, "text": clause.text, **label})
    for clause in b_clauses:
        label = b_texts.get(clause.text)
        if label is None:
            assert clause.text in a_by_text, f"{name}: B clause {clause.n} is neither A's nor an edit: {clause.text}"
            label = {"status": "same", "a": clause.text}
        labels["b_clauses"].append({"n": clause.n, "text": clause.text, **label})
    missing = set(b_texts) - {clause.text for clause in b_clauses}
    assert not missing, f"{name}: edits the segmenter did not cut as clauses: {missing}"
    (HERE / f"labels-{name}.json").write_text(json.dumps(labels, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return labels


if __name__ == "__main__":
    for pair_name, pair_edits in PAIRS.items():
        made = make_pair(pair_name, pair_edits)
        counts: dict[str, int] = {}
        for side in ("a_clauses", "b_clauses"):
            for row in made[side]:
                key = f"{side[0]}:{row['status']}"
                counts[key] = counts.get(key, 0) + 1
        print(pair_name, len(made["a_clauses"]), len(made["b_clauses"]), counts, file=sys.stderr)
