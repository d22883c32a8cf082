"""The report: every file written, clause text escaped everywhere, and report.html opened in
headless Chromium (renders, no console errors, a screenshot; a `<script>` clause shows as text)."""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from csv_cells import is_number

from semplan.cluster import find_priorities
from semplan.report import REPORT_FILES, write_report
from semplan.report.markdown import markdown_cell, markdown_code
from semplan.segment import Clause

REPO = Path(__file__).resolve().parent.parent
SCRIPT = "<script>alert(1)</script>"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    # Lets the page finish loading before the DOM dump or the screenshot is taken.
    "--virtual-time-budget=15000",
]
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium not installed (Debian: apt-get install chromium); the HTML is not rendered",
)


def chromium(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, url],
        capture_output=True,
        text=True,
        timeout=180,
    )


def rendered_dom(tmp_path: Path, html_path: Path) -> tuple[str, list[str]]:
    """The DOM after scripts ran, and the page's console lines (Chromium logs them all as
    INFO:CONSOLE, whatever their level; report.html itself logs nothing)."""
    run = chromium(tmp_path, html_path.as_uri(), "--enable-logging=stderr", "--v=0", "--dump-dom")
    assert run.returncode == 0, run.stderr[-2000:]
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    return run.stdout, console


# ------------------------------------------------------------------ fixtures


def hostile_corpus():
    """Three topics over three plans; some clause texts are HTML/JS injection attempts."""
    rng = np.random.default_rng(5)
    centres = rng.normal(size=(3, 24))
    texts = [
        ["加强课后服务经费保障", SCRIPT + "课后服务", "优化课后服务体系</script><b>粗体</b>"],
        ["治理校外培训机构", "规范校外培训 & <img src=x onerror=alert(2)>", '校外培训 | 监管 "引号"'],
        ["推广安吉游戏", "安吉游戏试点 <!-- 注释 -->", "实施安吉游戏计划"],
    ]
    clauses, vectors = [], []
    counter: Counter[str] = Counter()
    for topic in range(3):
        for copy in range(6):
            text = texts[topic][copy % 3]
            plan = f"plan-{copy % 3}"
            counter[plan] += 1
            start = 100 * counter[plan]
            clauses.append(Clause(plan, counter[plan], "sentence", text, text, ((start, start + len(text)),)))
            vectors.append(centres[topic] + 0.1 * rng.normal(size=24))
    sources = {}
    for plan in counter:
        source = [" "] * (100 * (counter[plan] + 1))
        for clause in clauses:
            if clause.plan_id == plan:
                start, end = clause.spans[0]
                source[start:end] = list(clause.text)
        sources[plan] = "".join(source)
    return clauses, np.array(vectors, dtype=np.float32), sources


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory):
    clauses, vectors, sources = hostile_corpus()
    analysis = find_priorities(clauses, vectors, seed=1, min_cluster_size=3)
    out = tmp_path_factory.mktemp("hostile")
    write_report(analysis, out, sources=sources, source_paths={plan: f"{plan}.txt" for plan in sources})
    return analysis, out


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory, e5_encoder, sample_dir):
    """The README's main job: index the sample plans, then `semplan report`."""
    from semplan.cli import cli
    from semplan.store import Corpus

    index = tmp_path_factory.mktemp("report") / "index"
    from semplan.ingest import index_paths

    with Corpus.create(index, e5_encoder.identity()) as corpus:
        index_paths(corpus, [sample_dir], encoder=e5_encoder)
    out = index.parent / "report"
    result = CliRunner().invoke(cli, ["report", "--index", str(index), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return index, out, result.stdout


# ------------------------------------------------------------------ files


def test_report_cli_writes_every_file(sample_report):
    index, out, stdout = sample_report
    assert sorted(p.name for p in out.iterdir()) == sorted(REPORT_FILES), "no temporary files left behind"
    assert "priorities over " in stdout and f"wrote {out / 'report.html'}" in stdout

    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert data["format"] == "semplan-report" and data["format_version"] == 2 and len(data["plans"]) == 5
    assert set(data["sources"]) == {plan["plan_id"] for plan in data["plans"]}
    n_clauses = len(data["clauses"])

    with open(out / "clauses.csv", newline="", encoding="utf-8-sig") as handle:
        clause_rows = list(csv.DictReader(handle))
    assert len(clause_rows) == n_clauses
    assert {"clause_id", "plan", "priority_id", "score", "text"} <= set(clause_rows[0])
    with open(out / "priorities.csv", newline="", encoding="utf-8-sig") as handle:
        priority_rows = list(csv.DictReader(handle))
    assert len(priority_rows) == len(data["priorities"])
    assert [row["priority_id"] for row in priority_rows] == [
        str(p["priority_id"]) for p in data["priorities"]
    ]
    in_priorities = sum(int(row["size"]) for row in priority_rows)
    assert in_priorities + len(data["outliers"]) == n_clauses

    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "## Priorities, by coverage" in markdown and "## Plan × plan similarity" in markdown
    for plan in data["plans"]:
        assert f"### {plan['plan_id']}" in markdown


def test_report_carries_plan_metadata_and_priorities_over_the_years(sample_report):
    _, out, _ = sample_report
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    plans = {plan["plan_id"]: plan for plan in data["plans"]}
    assert {plan: entry["year"] for plan, entry in plans.items()} == {
        "city-2019": 2019, "daqing-2021": 2021, "hulunbuir-2021": 2021, "qingyuan-2022": 2022, "xx-county-2021": 2021,
    }  # fmt: skip
    assert plans["hulunbuir-2021"]["issuer"] == "呼伦贝尔市教育党工委教育局" and plans["xx-county-2021"]["level"] == "county"
    assert plans["qingyuan-2022"]["n_clauses"] == 157 and plans["qingyuan-2022"]["sources"]["year"] == "text"
    for priority in data["priorities"]:
        assert sum(priority["by_year"].values()) == priority["size"]
        assert set(priority["by_year"]) <= {"2019", "2021", "2022"}
        trend = priority["trend"]
        assert trend["direction"] in ("new", "rising", "steady", "falling", "gone")
        assert str(trend["first_year"]) in priority["by_year"] and str(trend["last_year"]) in priority["by_year"]
    assert [year["year"] for year in data["years"]] == [2019, 2021, 2022]
    assert data["years"][1]["plans"] == ["daqing-2021", "hulunbuir-2021", "xx-county-2021"]
    page = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="over-time"' in page and 'id="fig-years"' in page and "呼伦贝尔市教育党工委教育局 · city · 2021 · 工作要点" in page
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "## Priorities over the years" in markdown and "| # | priority | 2019 | 2021 | 2022 | trend | first–last |" in markdown


def test_report_html_is_self_contained(sample_report):
    _, out, _ = sample_report
    page = (out / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"""<(script|link|img|iframe)[^>]+(src|href)=["']?(https?:)?//""", page)
    assert 'id="fig-map"' in page and "<svg" in page
    assert "Plotly" not in page and len(page.encode()) < 1_500_000, "no script library inlined (was 4.8 MB of plotly.js)"
    # Every clause of every priority links to its anchor in the embedded source view.
    for anchor in set(re.findall(r'href="#(c-[^"]+)"', page)):
        assert f'id="{anchor}"' in page


def test_bad_index_is_a_one_line_error(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "semplan",
            "report",
            "--index",
            str(tmp_path / "nope"),
            "--out",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: no index at"), result.stderr


# ------------------------------------------------------------------ escaping


def test_clause_text_is_escaped_in_every_output(hostile_report):
    analysis, out = hostile_report
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "<b>粗体</b>" not in page and "<!-- 注释" not in page
    # Only the page's own two script elements: the error hook and the "rendered" mark.
    assert len(re.findall(r"<script\b", page)) == 2
    chart = page.split('<div class="figure" id="fig-map">')[1].split("</svg>")[0]
    assert "<circle" in chart and "&lt;script&gt;" in chart and "<script" not in chart

    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "<script>" not in markdown and "<img" not in markdown
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert SCRIPT + "课后服务" in {row["text"] for row in data["clauses"]}, "JSON keeps the text as it is"


def test_escaping_helpers():
    assert markdown_cell("a | b\n<c>") == "a \\| b &lt;c&gt;"
    assert markdown_cell("[x](javascript:y) *a*") == "\\[x\\](javascript:y) \\*a\\*"
    assert markdown_code("a`b") == "``a`b``"


# ------------------------------------------------------------------ charts


def _svg_boxes(chart: str, element: str) -> list[tuple[float, float, float, float]]:
    pattern = rf'<{element} x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"'
    return [tuple(map(float, found)) for found in re.findall(pattern, chart)]


def test_heatmap_names_its_priorities_and_keeps_the_rest_behind_show_all(sample_report):
    """The heatmap's columns were P1, P3, P5… with names only on hover: a printout said nothing."""
    index, out, _ = sample_report
    page = (out / "report.html").read_text(encoding="utf-8")
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    labels = [f"P{p['priority_id']} {p['label']}" for p in data["priorities"]]
    from semplan.report.plots import TOP_PRIORITIES

    heatmap = page.split('<div class="figure" id="fig-heatmap">')[1].split("</svg>")[0]
    assert len(labels) > TOP_PRIORITIES
    shown = re.findall(r"<a href=\"#p-(\d+)\"><text [^>]*><title>([^<]*)</title>", heatmap)
    assert [f"{title}" for _, title in shown] == labels[:TOP_PRIORITIES]
    assert all(plan in heatmap for plan in ("city-2019", "daqing-2021", "xx-county-2021"))
    rest = page.split('<details class="more" id="heatmap-rest">')[1].split("</details>")[0]
    assert f"Show all {len(labels)} priorities" in rest
    assert re.findall(r"<title>([^<]*)</title>", rest.split("</summary>")[1])[0] == labels[TOP_PRIORITIES]


def test_map_labels_overlap_no_other_label_and_few_dots(sample_report):
    """The map's labels ("P33 成人") were drawn at their cluster's centre, over the dots and each other."""
    _, out, _ = sample_report
    page = (out / "report.html").read_text(encoding="utf-8")
    chart = page.split('<div class="figure" id="fig-map">')[1].split("</svg>")[0]
    labels = _svg_boxes(chart, "rect")[-chart.count('class="map-label"'):]
    dots = [tuple(map(float, found)) for found in re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)"', chart)]
    assert len(labels) >= 20 and len(dots) > 600
    for i, (x, y, w, h) in enumerate(labels):
        for x2, y2, w2, h2 in labels[i + 1 :]:
            assert x + w <= x2 or x2 + w2 <= x or y + h <= y2 or y2 + h2 <= y, "two labels overlap"
    covered = sum(1 for x, y, w, h in labels for cx, cy in dots if x <= cx <= x + w and y <= cy <= y + h)
    assert covered <= len(labels) // 4, f"{covered} dots under the labels"


def test_label_placement_avoids_dots_and_earlier_labels():
    from semplan.report.plots import Box, place_labels

    dots = np.array([[100.0, 100.0], [110.0, 100.0], [100.0, 110.0]])
    boxes = place_labels([(105.0, 105.0), (105.0, 105.0)], [(40.0, 14.0), (40.0, 14.0)], dots,
                         Box(0, 0, 400, 300))
    first, second = boxes
    assert first is not None and second is not None and not first.overlaps(second)
    assert first.holds(dots) == 0 and second.holds(dots) == 0
    assert place_labels([(5.0, 5.0)], [(500.0, 14.0)], dots, Box(0, 0, 400, 300)) == [None]


# ------------------------------------------------------------------ in a browser


@needs_chromium
def test_sample_report_renders_in_chromium_without_console_errors(sample_report, tmp_path):
    _, out, _ = sample_report
    dom, console = rendered_dom(tmp_path, out / "report.html")
    assert 'data-semplan-rendered="ok"' in dom, "the page's scripts did not finish drawing"
    assert "data-semplan-errors=" not in dom, re.findall(r'data-semplan-errors="[^"]*"', dom)
    assert console == []
    assert dom.count('class="chart"') >= 5, "the heatmap (and its rest), the map, the plan matrix and the years"

    screenshot = tmp_path / "report-screenshot.png"
    run = chromium(
        tmp_path, (out / "report.html").as_uri(), "--window-size=1280,2200", f"--screenshot={screenshot}"
    )
    assert run.returncode == 0 and screenshot.stat().st_size > 20_000, run.stderr[-2000:]
    (REPO / "out").mkdir(exist_ok=True)
    shutil.copyfile(screenshot, REPO / "out" / "report-screenshot.png")
    # The README's picture changes only on request, so test runs leave the tree clean.
    if os.environ.get("SEMPLAN_UPDATE_SCREENSHOT") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        shutil.copyfile(screenshot, REPO / "docs" / "report-screenshot.png")
        page = (out / "report.html").read_text(encoding="utf-8")
        for name in ("heatmap", "map"):
            start = page.index(f'<div class="figure" id="fig-{name}">')
            chart = tmp_path / f"{name}.html"
            chart.write_text('<html><body style="margin:0;font-family:sans-serif">'
                             + page[start : page.index("</svg>", start)] + "</svg></div></body></html>", "utf-8")
            size = "1110,630" if name == "map" else "700,780"
            run = chromium(tmp_path, chart.as_uri(), f"--window-size={size}",
                           f"--screenshot={REPO / 'docs' / f'report-{name}.png'}")
            assert run.returncode == 0, run.stderr[-2000:]


@needs_chromium
def test_script_clause_is_shown_as_text_in_chromium(hostile_report, tmp_path):
    _, out = hostile_report
    dom, console = rendered_dom(tmp_path, out / "report.html")
    assert 'data-semplan-rendered="ok"' in dom
    assert "data-semplan-errors=" not in dom and console == []
    # The DOM serialiser escapes text nodes: the clause is text, not an element.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;课后服务" in dom
    assert len(re.findall(r"<script\b", dom)) == 2
    assert '<img src="x"' not in dom and "<b>粗体</b>" not in dom


def test_report_without_a_map_or_sources(tmp_path):
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    from semplan.cluster import PriorityClusterer

    clauses, vectors, _ = hostile_corpus()
    clusterer = PriorityClusterer(
        reducer=PCA(n_components=3), clusterer=KMeans(n_clusters=3, n_init=2, random_state=0)
    )
    analysis = find_priorities(clauses, vectors, clusterer=clusterer, map_2d=False)
    files = write_report(analysis, tmp_path / "out")
    page = files["report.html"].read_text(encoding="utf-8")
    assert 'id="fig-heatmap"' in page and 'id="fig-plans"' in page
    assert 'id="fig-map"' not in page and 'id="fig-years"' not in page
    assert 'id="sources"' not in page and "plan-0:100–" in page, (
        "without sources, links give file and offsets"
    )
    (tmp_path / "file").write_text("x")
    from semplan.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="not a directory"):
        write_report(analysis, tmp_path / "file")


def hostile_names_report(out):
    """Plan ids as a hostile file name would make them, clause text with link and formula syntax."""
    clauses, vectors, _ = hostile_corpus()
    names = {"plan-0": "<img src=x onerror=alert(1)>", "plan-1": '=HYPERLINK("http://x","y")', "plan-2": "@SUM(A1)"}
    texts = ["[点这里](javascript:alert(1)) 加强课后服务", "=1+2 课后服务", "-2+3 课后服务", "![x](http://x/y.png) 安吉游戏"]
    renamed = [
        dataclasses.replace(
            clause, plan_id=names[clause.plan_id], text=texts[i % 4], match_text=texts[i % 4],
            spans=((clause.spans[0][0], clause.spans[0][0] + len(texts[i % 4])),),
        )
        for i, clause in enumerate(clauses)
    ]
    analysis = find_priorities(renamed, vectors, seed=1, min_cluster_size=3)
    previous = os.umask(0o022)
    try:
        write_report(analysis, out, title="[t](javascript:x) <b>")
    finally:
        os.umask(previous)
    return names


def test_markdown_renders_hostile_names_and_links_as_text(tmp_path):
    from markdown_it import MarkdownIt

    names = hostile_names_report(tmp_path)
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    html = MarkdownIt("commonmark").enable("table").render(markdown)
    assert "<img" not in html and "<a " not in html and "<b>" not in html
    assert "javascript:alert(1)" in html  # shown, as text
    for name in names.values():
        assert name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;") in html


def test_csv_cells_never_start_a_formula_and_excel_sees_utf8(tmp_path):
    hostile_names_report(tmp_path)
    for name in ("clauses.csv", "priorities.csv"):
        raw = (tmp_path / name).read_bytes()
        assert raw.startswith(codecs.BOM_UTF8)
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        cells = [cell for row in rows for cell in row]
        assert not [cell for cell in cells if cell[:1] in ("=", "+", "@") or (cell[:1] == "-" and not is_number(cell))]
        assert any(cell.startswith("'=HYPERLINK") for cell in cells) or name == "priorities.csv"


def test_report_files_get_the_umask_mode(tmp_path):
    hostile_names_report(tmp_path)
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in tmp_path.iterdir()}
    assert set(modes.values()) == {0o644}, modes


@needs_chromium
def test_every_priority_shows_its_evidence_with_shared_terms_marked(sample_report, tmp_path):
    _, out, _ = sample_report
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    shared = [p for p in data["priorities"] if p["tier"] != "unique"]
    assert shared and all(p["evidence"] and p["evidence"][0]["verdict"] for p in shared)
    for priority in shared:
        covering = [e for e in priority["evidence"] if e["covers"]]
        assert len(priority["covering_plans"]) == len(covering) and all(e["verdict"] == "same" for e in covering)
        assert [e["score"] for e in covering] == sorted(e["score"] for e in covering), "weakest covering plan first"
        assert all(not e["covers"] for e in priority["evidence"][len(covering):])
    dom, console = rendered_dom(tmp_path, out / "report.html")
    assert console == []
    assert dom.count('<table class="evidence">') == sum(1 for p in data["priorities"] if p["evidence"])
    assert "<mark>" in dom and "weakest covering plan" in dom
    # the marks are escaped text, never markup from a clause
    assert "<mark><" not in dom


def test_report_md_carries_the_evidence_and_the_formula(sample_report):
    """report.md showed priorities and tiers without the evidence behind them, and left the formula
    out: a reader of the text report could not check a "shared by all" claim."""
    _, out, _ = sample_report
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    markdown = (out / "report.md").read_text(encoding="utf-8")
    section = markdown.split("## Evidence for shared priorities", 1)[1].split("\n## ", 1)[0]
    shared = [p for p in data["priorities"] if p["tier"] != "unique"]
    for priority in shared:
        heading = f"### P{priority['priority_id']} "
        assert heading in section
        rows = section.split(heading, 1)[1].split("\n### ", 1)[0]
        shown = [line.split(" | ")[:3] for line in rows.splitlines() if line.startswith("| ") and "---" not in line][1:]
        assert len(shown) == len(priority["evidence"])
        for (plan, verdict, score), evidence in zip(shown, priority["evidence"], strict=True):
            assert plan == f"| {evidence['plan']}"
            assert verdict == evidence["verdict"] + ("" if evidence["covers"] else " (weak)")
            assert abs(float(score) - evidence["score"]) < 0.001  # report.json rounds to four places
    assert "**" in section  # shared terms in bold
    if data.get("formula"):
        assert "## Formula" in markdown


def test_evidence_cell_marks_shared_terms_in_bold_and_keeps_spaces():
    from semplan.report.markdown import markdown_marked
    from semplan.report.view import EvidenceView

    evidence = EvidenceView(plan_id="a", clause_id="a#1", score=0.9, verdict="same", covers=True, shared_terms=("ban",),
                            marked_text="", marked_core="", text="a ban on *paid*\ntutoring", shared_spans=((2, 5),))
    assert markdown_marked(evidence) == "a **ban** on \\*paid\\* tutoring"
