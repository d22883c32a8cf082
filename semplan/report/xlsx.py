"""report.xlsx: the report's tables as one workbook, a sheet per view, ready to filter and print.

Each sheet has its header row frozen, columns as wide as their text (a CJK character is two
columns wide, as a spreadsheet draws it) up to a cap, and long text wrapped. A text cell is
always stored as text: one that starts with `=` would otherwise be written as a formula, the
spreadsheet form of the CSV injection `semplan._csv` guards against.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path
from typing import Any

from semplan._fs import replace_atomically
from semplan.report.tables import (
    Table,
    clauses_table,
    evidence_table,
    plan_matrix_table,
    priorities_table,
    trends_table,
    unique_clauses_table,
)
from semplan.report.view import ReportView

# Widest a column gets, in display columns; longer text wraps within it.
MAX_COLUMN_WIDTH = 60
# Characters XML 1.0 cannot hold (openpyxl and lxml refuse them): shown escaped instead.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def display_width(text: str) -> int:
    """Columns `text` takes on screen: wide and full-width characters (CJK) count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def report_sheets(view: ReportView) -> list[tuple[str, Table, int]]:
    """(sheet name, table, frozen leading columns) for every view of the report, in workbook order."""
    sheets = [
        ("priorities", priorities_table(view), 2),
        ("evidence", evidence_table(view), 2),
        ("clauses", clauses_table(view), 1),
        ("plan x plan", plan_matrix_table(view), 1),
        ("unique clauses", unique_clauses_table(view), 1),
    ]
    if view.over_time is not None:
        sheets.append(("over time", trends_table(view.over_time), 2))
    return sheets


def write_xlsx(view: ReportView, path: str | os.PathLike) -> Path:
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    for name, (header, rows), frozen_columns in report_sheets(view):
        _fill_sheet(workbook.create_sheet(name), header, rows, frozen_columns)
    workbook.properties.title = xml_text(view.title)
    return replace_atomically(path, lambda temporary: workbook.save(temporary))


def _fill_sheet(sheet: Any, header: list[str], rows: list[list[object]], frozen_columns: int) -> None:
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    bold = Font(bold=True)
    wrapped = Alignment(wrap_text=True, vertical="top")
    widths = [display_width(name) for name in header]
    sheet.append([_text_cell(sheet, name) for name in header])
    for cell in sheet[1]:
        cell.font = bold
    for row in rows:
        cells = [_text_cell(sheet, value) if isinstance(value, str) else value for value in row]
        sheet.append(cells)
        for column, cell in enumerate(cells):
            if cell is None or isinstance(cell, int | float):
                widths[column] = max(widths[column], len(str(cell or "")))
            elif cell.value:
                widths[column] = max(widths[column], max(map(display_width, cell.value.split("\n"))))
    for column, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = min(width, MAX_COLUMN_WIDTH) + 2
        if width > MAX_COLUMN_WIDTH:  # only these wrap: a style per cell is what makes a workbook slow to write
            for (cell,) in sheet.iter_rows(min_row=2, min_col=column, max_col=column):
                cell.alignment = wrapped
    sheet.freeze_panes = sheet.cell(row=2, column=frozen_columns + 1).coordinate
    if rows:
        sheet.auto_filter.ref = sheet.dimensions


def xml_text(text: str) -> str:
    """`text` with the characters an XML file cannot hold escaped (`\\x1f`, `\\ud800`)."""
    return _ILLEGAL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


def _text_cell(sheet: Any, value: str) -> Any:
    from openpyxl.cell.cell import Cell

    cell = Cell(sheet, value=xml_text(value))
    cell.data_type = "s"  # never a formula, whatever the text starts with
    return cell
