"""Plan metadata: read from the head of real plans and their file names, overridden by a sidecar CSV
and options, stored by `semplan index` (migration m004) and listed by `semplan plans`."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from cli_runner import semplan

from semplan.errors import InputError, InvalidArgument
from semplan.metadata import (
    MetadataOverrides,
    PlanMetadata,
    document_metadata,
    extract_metadata,
    level_of,
    read_sidecar,
)
from semplan.read import read_document

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "semplan" / "data" / "sample_plans"
SERIES = REPO / "tests" / "data" / "series"
REALWORLD = REPO / "tests" / "data" / "realworld"

# file → (issuer, level, year, doc_type, title); None where the plan does not say.
EXPECTED = {
    SAMPLES / "hulunbuir-2021.txt": ("呼伦贝尔市教育党工委教育局", "city", 2021, "工作要点", "呼伦贝尔市教育党工委教育局2021年工作要点"),
    SAMPLES / "qingyuan-2022.txt": ("清远市教育局", "city", 2022, "工作要点", "清远市2022年教育工作要点"),
    SAMPLES / "xx-county-2021.txt": ("XX县", "county", 2021, "工作要点", "XX县2021教育工作要点"),
    SAMPLES / "city-2019.txt": ("市教育局党委市教育局", "city", 2019, "工作要点", "市教育局党委市教育局2019年工作要点"),
    # A news article (traditional script): no title; the issuer from the text, the year from the file name.
    SAMPLES / "daqing-2021.txt": ("大庆市教育局", "city", 2021, None, None),
    SERIES / "gwr-2021.txt": ("国务院", "national", 2021, "政府工作报告", "政府工作报告"),
    SERIES / "gwr-2023.txt": ("国务院", "national", 2023, "政府工作报告", "政府工作报告"),
    # No title block: the issuer from 我代表国务院，向大会报告政府工作, the year from the file name.
    SERIES / "gwr-2025.txt": ("国务院", "national", 2025, "政府工作报告", None),
    REALWORLD / "beijing-gwr-2026.txt": ("北京市人民政府", "province", 2026, "政府工作报告", "2026年北京市政府工作报告"),
    REALWORLD / "sichuan-gwr-2026.txt": ("四川省人民政府", "province", 2026, "政府工作报告", "2026年四川省人民政府工作报告"),
    REALWORLD / "ningxia-gwr-2026.txt": ("宁夏回族自治区人民政府", "province", 2026, "政府工作报告", "2026年宁夏回族自治区政府工作报告"),
    REALWORLD / "hainan-gwr-2026.txt": ("海南省人民政府", "province", 2026, "政府工作报告", "政府工作报告"),
    REALWORLD / "liaoning-gwr-2026-wrapped30.txt": ("辽宁省人民政府", "province", 2026, "政府工作报告", "2026年辽宁省政府工作报告"),
    REALWORLD / "taipei-neihu-plan-zh-hant.txt": ("台北市内湖区", "county", 2014, "通盘检讨", "台北市内湖区都市计划通盘检讨"),
}


@pytest.mark.parametrize("path", sorted(EXPECTED), ids=lambda path: path.name)
def test_metadata_of_real_plans(path):
    document = read_document(path)
    metadata = extract_metadata(document.text, document.plan_id, document.path)
    found = (metadata.issuer, metadata.level, metadata.year, metadata.doc_type, metadata.title)
    assert found == EXPECTED[path]
    assert set(metadata.sources) == {name for name, value in metadata.values().items() if value is not None}


def test_where_each_value_came_from():
    document = read_document(SERIES / "gwr-2025.txt")
    metadata = extract_metadata(document.text, document.plan_id, document.path)
    assert metadata.sources["year"] == "file name" and metadata.sources["issuer"] == "text"
    # A file name alone, as for a plan read from a string: `gwr-2019` → 2019.
    assert extract_metadata("各位代表：\n", "gwr-2019").year == 2019
    # A Chinese file name is read like a title.
    named = extract_metadata("正文。\n", "x", "XX县2021教育工作要点.docx")
    assert (named.region, named.level, named.year, named.doc_type) == ("XX县", "county", 2021, "工作要点")
    assert named.sources["region"] == "file name"


def test_levels():
    assert level_of("内蒙古自治区呼伦贝尔市") == "city"
    assert level_of("上海市") == "province" and level_of("广东省") == "province"
    assert level_of("新巴尔虎右旗") == "county" and level_of("沛县") == "county"
    assert level_of(None, "国务院") == "national" and level_of(None, "县教育局") == "county"
    assert level_of(None) is None


def test_overrides_replace_values_and_rederive_issuer(tmp_path):
    base = extract_metadata("清远市2022年教育工作要点\n", "qingyuan-2022")
    changed = base.with_values({"region": "广东省清远市", "year": "2023年"}, "sidecar")
    assert (changed.issuer, changed.level, changed.year) == ("广东省清远市", "city", 2023)
    assert changed.sources["year"] == "sidecar" and changed.sources["issuer"] == "sidecar"
    with pytest.raises(InvalidArgument, match="level 'town'"):
        base.with_values({"level": "town"}, "option")
    with pytest.raises(InvalidArgument, match="year '21'"):
        base.with_values({"year": "21"}, "option")
    assert base.with_values({"level": "市级"}, "option").level == "city"


def test_hand_set_values_survive_a_reread_and_options_win(tmp_path):
    document = read_document(SAMPLES / "hulunbuir-2021.txt")
    by_hand = document_metadata(document, MetadataOverrides({"hulunbuir-2021": {"level": "county"}}))
    assert by_hand.level == "county" and by_hand.sources["level"] == "sidecar"
    reread = document_metadata(document, None, PlanMetadata.from_row(document.plan_id, by_hand.to_row()))
    assert reread.level == "county" and reread.year == 2021, "a re-index without the sidecar keeps what it set"
    optioned = document_metadata(document, MetadataOverrides({"hulunbuir-2021": {"year": 2020}}, {"year": 2022}))
    assert optioned.year == 2022 and optioned.sources["year"] == "option"


def test_sidecar_columns_by_name(tmp_path):
    sidecar = tmp_path / "plans.csv"
    sidecar.write_text("\ufeffYear,File,Level,Type\n2020,plans/a-plan.docx,市,工作计划\n,b.txt,,\n", encoding="utf-8")
    assert read_sidecar(sidecar) == {"a-plan": {"year": 2020, "level": "city", "doc_type": "工作计划"}, "b": {}}
    (tmp_path / "gbk.csv").write_bytes("plan,issuer\nx,清远市教育局\n".encode("gb18030"))
    assert read_sidecar(tmp_path / "gbk.csv") == {"x": {"issuer": "清远市教育局"}}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("plan,colour\nx,red\n", "unknown column 'colour'"),
        ("year\n2020\n", "needs a `plan` or `file` column"),
        ("plan,year\nx,twenty\n", ":2: year 'twenty' is not a year"),
        ("plan,year\n,2020\n", ":2: no plan named"),
        ("\n\n", "the metadata file is empty"),
    ],
)
def test_bad_sidecar_is_an_input_error(tmp_path, content, message):
    (tmp_path / "m.csv").write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        read_sidecar(tmp_path / "m.csv")


# ------------------------------------------------------------------ stored by `semplan index`


def plans_json(index: Path) -> dict[str, dict]:
    code, out, err = semplan("plans", "--index", str(index), "--json")
    assert code == 0, err
    return {row["plan_id"]: row for row in json.loads(out)}


def test_index_stores_metadata_and_plans_lists_it(tmp_path, cache_env):
    index = tmp_path / "index"
    sidecar = tmp_path / "plans.csv"
    sidecar.write_text("plan,level,region\nhulunbuir-2021,,内蒙古自治区呼伦贝尔市\n", encoding="utf-8")
    code, _, err = semplan("index", str(SAMPLES / "hulunbuir-2021.txt"), str(SAMPLES / "qingyuan-2022.txt"),
                           "--out", str(index), "--meta", str(sidecar))  # fmt: skip
    assert code == 0, err
    plans = plans_json(index)
    assert plans["hulunbuir-2021"]["issuer"] == "内蒙古自治区呼伦贝尔市教育党工委教育局"
    assert plans["hulunbuir-2021"]["sources"]["region"] == "sidecar" and plans["hulunbuir-2021"]["n_clauses"] == 136
    assert (plans["qingyuan-2022"]["year"], plans["qingyuan-2022"]["sources"]["year"]) == (2022, "text")

    # An unchanged file with an option: its metadata changes, its clauses stay; the sidecar's value stays too.
    code, _, err = semplan("index", str(SAMPLES / "hulunbuir-2021.txt"), "--out", str(index), "--level", "county")
    assert code == 0 and "1 unchanged" in err, err
    plans = plans_json(index)
    assert plans["hulunbuir-2021"]["level"] == "county" and plans["hulunbuir-2021"]["region"] == "内蒙古自治区呼伦贝尔市"

    code, out, _ = semplan("plans", "--index", str(index))
    assert "hulunbuir-2021  内蒙古自治区呼伦贝尔市教育党工委教育局 · county · 2021 · 工作要点  (136 clauses)" in out
    code, out, _ = semplan("plans", "--index", str(index), "--csv")
    assert out.startswith("\ufeffplan_id,title,issuer,region,body,level,year,doc_type,n_clauses,path\n")

    # An index whose plans have no stored metadata (indexed before m004): read from the stored text.
    with sqlite3.connect(index / "corpus.sqlite") as conn:
        conn.execute("DELETE FROM plan_metadata")
    assert plans_json(index)["qingyuan-2022"]["issuer"] == "清远市教育局"

    # Removing a plan removes its metadata with it.
    semplan("index", "--remove", "qingyuan-2022", "--out", str(index))
    with sqlite3.connect(index / "corpus.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM plan_metadata WHERE plan_id = 'qingyuan-2022'").fetchone()[0] == 0


def test_metadata_errors_are_one_line(tmp_path, cache_env):
    (tmp_path / "bad.csv").write_text("plan,colour\nx,red\n", encoding="utf-8")
    code, _, err = semplan("index", str(SAMPLES / "daqing-2021.txt"), "--out", str(tmp_path / "i"),
                           "--meta", str(tmp_path / "bad.csv"))  # fmt: skip
    assert code == 1 and err.strip().splitlines() == [f"Error: {tmp_path / 'bad.csv'}: unknown column 'colour' "
                                                      "(columns: plan or file, title, issuer, region, body, level, year, doc_type)"]  # fmt: skip
    code, _, err = semplan("plans", "--index", str(tmp_path / "none"))
    assert code == 1 and err.startswith("Error: no index at")
    code, _, err = semplan("index", str(SAMPLES / "daqing-2021.txt"), "--out", str(tmp_path / "i"), "--year", "20")
    assert code == 1 and err.count("\n") == 1 and "--year" in err


def test_a_manifest_lists_plan_files_relative_to_itself_with_ids_and_metadata(tmp_path):
    from semplan.metadata import read_manifest

    (tmp_path / "plans").mkdir()
    manifest = tmp_path / "plans.csv"
    manifest.write_text("path,plan,year,level\nplans/a.txt,city-a,2031,city\nplans/b.txt,,,\n", encoding="utf-8")
    listed = read_manifest(manifest)
    assert listed.paths == [tmp_path / "plans" / "a.txt", tmp_path / "plans" / "b.txt"]
    assert listed.plan_ids == ["city-a", None]
    assert listed.by_plan == {"city-a": {"year": 2031, "level": "city"}}


def test_a_manifest_needs_a_path_in_every_row(tmp_path):
    from semplan.metadata import read_manifest

    manifest = tmp_path / "plans.csv"
    manifest.write_text("plan,year\ncity-a,2031\n", encoding="utf-8")
    with pytest.raises(InputError, match="needs a `path` column"):
        read_manifest(manifest)
    manifest.write_text("path,plan\n,city-a\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"plans.csv:2: no file named in this row"):
        read_manifest(manifest)
