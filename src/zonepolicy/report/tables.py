"""Plain terminal tables that line up with Chinese text (wide characters take two columns)."""

from __future__ import annotations

import csv
import io
import unicodedata
from typing import Sequence


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, size: int) -> str:
    return text + " " * (size - width(text))


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table with a header rule; cells may hold several lines separated by newlines."""
    cols = len(header)
    split_rows = [[str(c).split("\n") for c in row] for row in rows]
    sizes = [width(h) for h in header]
    for row in split_rows:
        for i, cell in enumerate(row):
            sizes[i] = max(sizes[i], *(width(x) for x in cell))
    out = ["  ".join(_pad(h, sizes[i]) for i, h in enumerate(header)).rstrip(),
           "  ".join("-" * sizes[i] for i in range(cols))]
    for row in split_rows:
        height = max(len(c) for c in row)
        for k in range(height):
            out.append("  ".join(_pad(row[i][k] if k < len(row[i]) else "", sizes[i])
                                 for i in range(cols)).rstrip())
    return "\n".join(out) + "\n"


# A spreadsheet would evaluate a cell starting with one of these as a formula (CSV injection);
# a lone "-" (the matrix's "nothing allowed") stays as it is.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: object) -> str:
    text = str(value).replace("\n", "; ")
    return "'" + text if text.startswith(_FORMULA_START) and text != "-" else text


def render_csv(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """CSV for spreadsheets: a UTF-8 byte-order mark (without it Excel reads Chinese text as the
    local code page), CRLF line ends (RFC 4180), and no cell that could run as a formula."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([_csv_cell(h) for h in header])
    for row in rows:
        writer.writerow([_csv_cell(c) for c in row])
    return "\ufeff" + buf.getvalue()
