"""Plan metadata: who issued a plan, at what level of government, for which year, what kind of document.

Read from the head of the decoded text and from the file name, then overridden by a sidecar CSV
(`semplan index … --meta plans.csv`, columns by name) and by command-line options. Each field
remembers where its value came from (`sources`), so a re-index that re-reads the text keeps what
an analyst set by hand.

What the head of a plan says, and what is read from it:

    关于印发《呼伦贝尔市教育党工委教育局2021年工作要点》的通知    title in 《》: region, body, year, type
    清远市2022年教育工作要点 / 2026年北京市政府工作报告           a title line
    ——2021年3月5日在第十三届全国人民代表大会第四次会议上        a speech: its year; 全国 → national
    现在，我代表国务院，向大会报告政府工作                      the issuer of a government work report
    gwr-2019.txt, XX县2021教育工作要点.docx                     the file name: a year, or a whole title

Levels are those of Chinese administration: national, province (省, 自治区, and the four
municipalities), city (prefecture level: 市, 州, 地区, 盟) and county (县, 区, 旗). A county-level
city (满洲里市) reads as a city: the name alone does not tell; override it.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semplan.errors import InputError, InvalidArgument
from semplan.normalize import to_simplified

logger = logging.getLogger(__name__)

LEVELS = ("national", "province", "city", "county")
# Every field a plan's metadata has, in the order outputs show them.
FIELDS = ("title", "issuer", "region", "body", "level", "year", "doc_type")
SOURCES = ("text", "file name", "sidecar", "option")
# Sources an analyst set: kept when the plan's text is read again.
SET_BY_HAND = ("sidecar", "option")

# Document types, longest first so that 政府工作报告 wins over 工作报告.
DOC_TYPES = (
    "政府工作报告", "工作要点", "工作计划", "工作安排", "工作方案", "实施方案", "行动计划", "行动方案",
    "工作报告", "工作总结", "发展规划", "规划纲要", "实施意见", "指导意见", "通盘检讨",
)  # fmt: skip
_DOC_TYPE = "|".join(DOC_TYPES)
# Characters a place name never holds: they start the body (局, 委, 党, 政府…) or a date.
_NOT_IN_PLACE = r"\d\s年月日局委厅办府党工部会院校所处科中心的和与及之关于《》、，,:：。"
_UNIT_SUFFIX = "特别行政区|自治区|自治州|自治县|自治旗|地区|省|市|州|盟|县|区|旗"
# Two characters at least before the suffix (一 character: only counties, 沛县): 都市, 城区 are no places.
_PLACE_UNIT = re.compile(rf"[^{_NOT_IN_PLACE}]{{2,9}}?(?:{_UNIT_SUFFIX})|[^{_NOT_IN_PLACE}]县")
# What an issuing body's name ends with; the rest of a title (都市计划, 推动…发展) is no body.
_BODY_END = ("局", "厅", "委", "委员会", "政府", "党委", "党工委", "党组", "办公室", "办公厅", "部", "院", "中心")
_PROVINCE_CITIES = ("北京市", "天津市", "上海市", "重庆市")
_NATIONAL = ("国务院", "全国", "中华人民共和国", "国家", "中共中央", "党中央")

_YEAR = r"(?:19|20)\d{2}"
# A title in 《》 counts only where the plan is sent out (关于印发《…》的通知, 现将《…》印发): the
# body cites other documents in 《》 too.
_TITLE_IN_BRACKETS = re.compile(rf"(?:印发|现将|转发)《([^《》]{{2,60}}?(?:{_DOC_TYPE}))》")
_TITLE_LINE = re.compile(rf"^([^。，,;；:：!?！？《》]{{0,40}}?(?:{_DOC_TYPE}))")
_SPEECH = re.compile(rf"(?:——|－－|―|—|-)*({_YEAR})年\d{{1,2}}月\d{{1,2}}日在(.{{0,20}}?)第[^届]{{1,4}}届(全国)?人民代表大会")
_REPORTER = re.compile(r"我代表([^，,。]{2,16}?)[，,]?向大会(?:作|做)?报告(政府)?工作")
_ORGANISATION_LINE = re.compile(rf"^((?:{_PLACE_UNIT.pattern})+)([^\d\s，,。]{{1,12}}?(?:局|厅|委员会|委|人民政府|政府))(?:文件)?$")
_ORGANISATION_IN_TEXT = re.compile(rf"(?<![\u4e00-\u9fffX])((?:{_PLACE_UNIT.pattern})+)(教育局|教育厅|教育委员会|人民政府)")
_ROC_YEAR = re.compile(r"中华民国\s*(\d{2,3})\s*年")
_FILE_YEAR = re.compile(rf"(?<!\d)({_YEAR})(?!\d)")
_FILE_SUFFIX = re.compile(r"\.(?:docx?|pdf|html?|txt|wps)$", re.I)
# How much of a plan is its head: titles, issuers and speech lines come before the body.
HEAD_LINES = 40
HEAD_CHARS = 4000


@dataclass(frozen=True)
class PlanMetadata:
    """What a plan is: its title, issuer (region + body), level, year and document type.

    `sources` maps each field that has a value to where it came from: "text", "file name",
    "sidecar" or "option".
    """

    plan_id: str
    title: str | None = None
    issuer: str | None = None
    region: str | None = None
    body: str | None = None
    level: str | None = None  # one of LEVELS
    year: int | None = None
    doc_type: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict)

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}

    def to_dict(self) -> dict[str, Any]:
        """`plan_id`, every field (None when unknown) and `sources`: what JSON outputs carry."""
        return {"plan_id": self.plan_id, **self.values(), "sources": dict(self.sources)}

    def to_row(self) -> dict[str, Any]:
        """The fields and their sources, as the index stores them."""
        return {**self.values(), "sources": dict(self.sources)}

    @classmethod
    def from_row(cls, plan_id: str, row: Mapping[str, Any]) -> PlanMetadata:
        values = {name: row.get(name) for name in FIELDS}
        if values["year"] is not None:
            values["year"] = int(values["year"])
        return cls(plan_id, **values, sources=dict(row.get("sources") or {}))

    def describe(self) -> str:
        """One line for people: `呼伦贝尔市教育党工委教育局 · city · 2021 · 工作要点`."""
        parts = [self.issuer, self.level, str(self.year) if self.year is not None else None, self.doc_type]
        return " · ".join(part for part in parts if part) or "no metadata"

    def with_values(self, values: Mapping[str, Any], source: str) -> PlanMetadata:
        """These values (checked) set from `source`; region or body alone re-derive issuer and level."""
        values = {name: value for name, value in check_values(values).items() if value is not None}
        if not values:
            return self
        merged = {**self.values(), **values}
        if ("region" in values or "body" in values) and "issuer" not in values:
            merged["issuer"] = "".join(part for part in (merged["region"], merged["body"]) if part) or None
        if "region" in values and "level" not in values and merged["region"]:
            merged["level"] = level_of(merged["region"], merged["body"])
        sources = dict(self.sources)
        for name in FIELDS:
            if name in values or (merged[name] != getattr(self, name) and merged[name] is not None):
                sources[name] = source
            elif merged[name] is None:
                sources.pop(name, None)
        return PlanMetadata(self.plan_id, **merged, sources=sources)


@dataclass(frozen=True)
class MetadataOverrides:
    """Values set by hand: per plan (a sidecar file) and for every plan of one run (options)."""

    by_plan: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    for_all: Mapping[str, Any] = field(default_factory=dict)

    def apply(self, metadata: PlanMetadata) -> PlanMetadata:
        metadata = metadata.with_values(self.by_plan.get(metadata.plan_id, {}), "sidecar")
        return metadata.with_values(self.for_all, "option")


NO_OVERRIDES = MetadataOverrides()


# ---------------------------------------------------------------- reading a plan


def extract_metadata(text: str, plan_id: str, path: str | Path | None = None) -> PlanMetadata:
    """The metadata the head of `text` and the file name (`path`, else the plan id) state."""
    head = _head_lines(text)
    found: dict[str, Any] = {}
    _from_text(head, found)
    from_text = dict(found)
    _from_file_name(Path(path).name if path is not None else plan_id, found)
    sources = {name: ("text" if name in from_text else "file name") for name, value in found.items() if value is not None}
    values = {name: found.get(name) for name in FIELDS}
    return PlanMetadata(plan_id, **values, sources=sources)


def document_metadata(
    document: Any, overrides: MetadataOverrides | None = None, previous: PlanMetadata | None = None
) -> PlanMetadata:
    """The metadata of a read `Document`: its text and file name, the fields an analyst set before
    (`previous`, from the index) and `overrides`, in that order."""
    metadata = extract_metadata(document.text, document.plan_id, document.path)
    if previous is not None:
        kept = {name: getattr(previous, name) for name in FIELDS if previous.sources.get(name) in SET_BY_HAND}
        for source in SET_BY_HAND:
            metadata = metadata.with_values({k: v for k, v in kept.items() if previous.sources[k] == source}, source)
    return (overrides or NO_OVERRIDES).apply(metadata)


def plans_metadata(
    records: Iterable[Any], stored: Mapping[str, Mapping[str, Any]], source_text: Callable[[str], str]
) -> dict[str, PlanMetadata]:
    """Metadata of stored plans (`PlanRecord`s), by plan id: the stored rows, or for a plan indexed
    before metadata was stored, what its stored text (`source_text(plan_id)`) and path say."""
    return {
        record.plan_id: PlanMetadata.from_row(record.plan_id, stored[record.plan_id])
        if record.plan_id in stored
        else extract_metadata(source_text(record.plan_id), record.plan_id, record.path)
        for record in records
    }


def _head_lines(text: str) -> list[str]:
    """The first lines of a plan, folded (width, script, no spaces): enough for titles and issuers."""
    lines = []
    for raw in text[:HEAD_CHARS].splitlines():
        line = re.sub(r"[\s\u200b-\u200d\u2060\ufeff]+", "", unicodedata.normalize("NFKC", raw)).lstrip("#")
        if line:
            lines.append(to_simplified(line))
        if len(lines) >= HEAD_LINES:
            break
    return lines


def _from_text(head: list[str], found: dict[str, Any]) -> None:
    joined = "".join(head)
    title = _title(head, joined)
    if title:
        found["title"] = title
        _read_title(title, found)
    speech = _SPEECH.search(joined)
    if speech:
        found.setdefault("year", int(speech.group(1)))
        if speech.group(3):
            found.setdefault("level", "national")
        elif speech.group(2):
            _set_place(speech.group(2), found, only_region=True)
    reporter = _REPORTER.search(joined)
    if reporter:
        found.setdefault("doc_type", "政府工作报告")
        issuer = reporter.group(1)
        if issuer.startswith(_NATIONAL):
            found.setdefault("body", issuer)
            found.setdefault("level", "national")
        else:
            place = _place(issuer)
            found.setdefault("body", issuer[len(place):] if place else issuer.lstrip("省市县区"))
            if place:
                found.setdefault("region", place)
        if found.get("doc_type") == "工作报告":
            found["doc_type"] = "政府工作报告"
    if "body" not in found or "region" not in found:
        for line in head:
            organisation = _ORGANISATION_LINE.match(line)
            if organisation and (found.get("region") in (None, organisation.group(1))):
                found.setdefault("region", organisation.group(1))
                found.setdefault("body", organisation.group(2))
                break
    if "region" not in found and "level" not in found:
        mention = _ORGANISATION_IN_TEXT.search(joined)
        if mention:
            found["region"] = mention.group(1)
            found.setdefault("body", mention.group(2))
    roc = _ROC_YEAR.search(joined)
    if roc and "year" not in found:
        found["year"] = 1911 + int(roc.group(1))
    _finish(found)


def _title(head: list[str], joined: str) -> str | None:
    bracketed = _TITLE_IN_BRACKETS.search(joined)
    if bracketed:
        return bracketed.group(1)
    for line in head:
        if line.startswith(("关于", "现将", "各位代表")):
            continue
        line = _FILE_SUFFIX.sub("", line)
        match = _TITLE_LINE.match(line)
        # 启动实施第四期学前教育行动计划，确保… is a sentence about a plan, not a title.
        if match and not line[match.end():].startswith(("，", ",", "、", ";", "；", "的", "。")):
            return match.group(1)
    # A title the page's markup split over lines (政府工作报 / 告): only at the very top.
    start = "".join(head[:3])
    match = re.match(rf"^({_YEAR}年)?[^。，,]{{0,20}}?政府工作报告", start)
    return match.group(0) if match else None


def _read_title(title: str, found: dict[str, Any]) -> None:
    """Region, body, year and type from a title such as 呼伦贝尔市教育党工委教育局2021年工作要点."""
    doc_type = next((kind for kind in DOC_TYPES if title.endswith(kind) or kind in title), None)
    if doc_type:
        found["doc_type"] = doc_type
    year = re.search(rf"({_YEAR})(?:年|年度)?", title)
    if year:
        found["year"] = int(year.group(1))
    # The issuer is what is left of the title without its year, domain words and type.
    rest = re.sub(rf"{_YEAR}(?:年度|年)?", "", title)
    if doc_type:
        rest = rest[: rest.rfind(doc_type)] if doc_type in rest else rest
    rest = re.sub(r"(?:教育|全市|全县|全区|全省)$", "", rest)
    if doc_type in ("政府工作报告", "工作报告") and rest and not rest.endswith("政府"):
        rest += "政府" if rest.endswith("人民") else "人民政府"  # 四川省人民|政府工作报告
        found["doc_type"] = "政府工作报告"
    elif doc_type == "工作报告" and rest.endswith("政府"):
        found["doc_type"] = "政府工作报告"
    _set_place(rest, found, body_must_end=_BODY_END)


def _set_place(
    text: str, found: dict[str, Any], *, only_region: bool = False, body_must_end: tuple[str, ...] = ("",)
) -> None:
    place = _place(text)
    if text.startswith(_NATIONAL):
        found.setdefault("level", "national")
        if not only_region:
            found.setdefault("body", text)
        return
    if place:
        found.setdefault("region", place)
    body = text[len(place):] if place else text
    if body and not only_region and body.endswith(body_must_end):
        found.setdefault("body", body)


def _place(text: str) -> str:
    """The place names a text starts with (内蒙古自治区呼伦贝尔市…), or ""."""
    end = 0
    while True:
        unit = _PLACE_UNIT.match(text, end)
        if not unit:
            return text[:end]
        end = unit.end()


def _from_file_name(name: str, found: dict[str, Any]) -> None:
    stem = _FILE_SUFFIX.sub("", name)
    if re.search(r"[\u4e00-\u9fff]", stem) and "title" not in found:
        title = _TITLE_LINE.match(stem)
        if title:
            from_name: dict[str, Any] = {"title": title.group(1)}
            _read_title(title.group(1), from_name)
            _finish(from_name)
            for key, value in from_name.items():
                found.setdefault(key, value)
    year = _FILE_YEAR.search(stem)
    if year:
        found.setdefault("year", int(year.group(1)))


def _finish(found: dict[str, Any]) -> None:
    """Issuer from region and body; the level from the region (or a national body)."""
    if "issuer" not in found and (found.get("region") or found.get("body")):
        found["issuer"] = (found.get("region") or "") + (found.get("body") or "")
    if "level" not in found and (found.get("region") or found.get("body")):
        level = level_of(found.get("region"), found.get("body"))
        if level:
            found["level"] = level


def level_of(region: str | None, body: str | None = None) -> str | None:
    """The administrative level a region (and body) names: 四川省 → province, 清远市 → city."""
    if body and not region:
        if body.startswith(_NATIONAL):
            return "national"
        # 市教育局: a body of an unnamed city (the placeholders of a template plan).
        return {"省": "province", "市": "city", "县": "county", "区": "county"}.get(body[0])
    if not region:
        return None
    if region.startswith(_NATIONAL):
        return "national"
    last = _PLACE_UNIT.findall(region)
    unit = last[-1] if last else region
    if len(last) == 1 and unit in _PROVINCE_CITIES:
        return "province"
    if unit.endswith(("省", "自治区", "特别行政区")):
        return "province"
    if unit.endswith(("县", "自治县", "旗", "自治旗", "区")):
        return "county"
    if unit.endswith(("市", "州", "地区", "盟")):
        return "city"
    return None


# ---------------------------------------------------------------- values set by hand

_LEVEL_NAMES = {
    "national": "national", "国家": "national", "国家级": "national", "全国": "national", "中央": "national",
    "province": "province", "provincial": "province", "省": "province", "省级": "province",
    "city": "city", "municipal": "city", "prefecture": "city", "市": "city", "市级": "city", "地市": "city",
    "county": "county", "district": "county", "县": "county", "县级": "county", "区": "county", "区县": "county",
}  # fmt: skip
_COLUMN_NAMES = {"type": "doc_type", "document_type": "doc_type", "doctype": "doc_type", "plan_id": "plan", "id": "plan"}


def check_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata values as stored: a year an integer, a level one of LEVELS; empty values dropped."""
    checked: dict[str, Any] = {}
    for name, value in values.items():
        if name not in FIELDS:
            raise InvalidArgument(f"unknown metadata field {name!r} (fields: {', '.join(FIELDS)})")
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if name == "year":
            checked[name] = check_year(value)
        elif name == "level":
            level = _LEVEL_NAMES.get(str(value).strip().lower())
            if level is None:
                raise InvalidArgument(f"level {value!r} is not one of {', '.join(LEVELS)}")
            checked[name] = level
        else:
            checked[name] = " ".join(str(value).split())
    return checked


def check_year(value: Any) -> int:
    text = str(value).strip().removesuffix("年")
    if not (text.isascii() and text.isdigit()) or not 1900 <= int(text) <= 2100:
        raise InvalidArgument(f"year {value!r} is not a year between 1900 and 2100")
    return int(text)


def read_sidecar(path: str | Path) -> dict[str, dict[str, Any]]:
    """A metadata CSV: one row per plan, columns by name (`plan` or `file`, then any of FIELDS).

    `plan` is a plan id; `file` a plan file name, whose stem is its plan id. Empty cells set
    nothing. A UTF-8 file (with or without BOM, as Excel saves it) or GB18030.
    """
    return {plan_id: values for plan_id, _, values in _plan_rows(Path(path), "plan", "file")}


@dataclass(frozen=True)
class Manifest:
    """The plans of one run as a manifest file lists them: paths, plan ids (None: the stem), metadata."""

    paths: list[Path]
    plan_ids: list[str | None]
    by_plan: dict[str, dict[str, Any]]


def read_manifest(path: str | Path) -> Manifest:
    """A manifest CSV: one row per plan file, a `path` column (relative to the manifest's folder),
    optionally `plan` (its id) and any of FIELDS, read as `read_sidecar` reads its files."""
    path = Path(path)
    paths: list[Path] = []
    plan_ids: list[str | None] = []
    by_plan: dict[str, dict[str, Any]] = {}
    for plan_id, file, values in _plan_rows(path, "path"):
        paths.append(path.parent / file)
        plan_ids.append(plan_id)
        if values:
            by_plan[plan_id or _FILE_SUFFIX.sub("", Path(file).name)] = values
    return Manifest(paths, plan_ids, by_plan)


def _plan_rows(path: Path, *naming: str) -> list[tuple[str | None, str, dict[str, Any]]]:
    """(plan id, file, checked metadata) of each row of a plans CSV whose rows need one of the
    `naming` columns (`plan`, `file`, `path`): the plan id from `plan`, else the file's stem
    (None for a `path` row without `plan`)."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise InputError(f"{path}: cannot read the metadata file ({error.strerror or error})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("gb18030", errors="replace")
    rows = list(csv.reader(io.StringIO(text)))
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise InputError(f"{path}: the metadata file is empty")
    header = [_COLUMN_NAMES.get(cell.strip().lower(), cell.strip().lower()) for cell in rows[0]]
    known = ("plan", *naming)
    unknown = [name for name in header if name not in (*FIELDS, *known)]
    if unknown:
        raise InputError(f"{path}: unknown column {unknown[0]!r} (columns: {' or '.join(dict.fromkeys(known))}, "
                         f"{', '.join(FIELDS)})")
    if not any(name in header for name in naming):
        raise InputError(f"{path}: a metadata file needs a `{'` or `'.join(naming)}` column naming each plan")
    found = []
    for number, row in enumerate(rows[1:], start=2):
        cells = dict(zip(header, (cell.strip() for cell in row), strict=False))
        file = cells.pop("path", "") or cells.pop("file", "")
        cells.pop("file", None)
        plan_id = cells.pop("plan", "") or None
        if "path" in naming and not file:
            raise InputError(f"{path}:{number}: no file named in this row")
        if "path" not in naming:
            plan_id = plan_id or _FILE_SUFFIX.sub("", Path(file).name) or None
            if not plan_id:
                raise InputError(f"{path}:{number}: no plan named in this row")
        try:
            found.append((plan_id, file, check_values(cells)))
        except InvalidArgument as error:
            raise InputError(f"{path}:{number}: {error}") from None
    return found


def overrides_from(sidecar: str | Path | None = None, **values: Any) -> MetadataOverrides:
    """The overrides of `semplan index --meta FILE --year … --level …`."""
    return MetadataOverrides(read_sidecar(sidecar) if sidecar else {}, check_values(values))
