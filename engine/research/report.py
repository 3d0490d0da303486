"""HTML reports of every job's result: ``write_report(folder)`` reads ``folder/result.json``
and writes ``folder/report.html``, one self-contained page (plotly.js inlined, no network) of
tables and interactive charts for the result's kind.

What each kind shows is in ``engine.research.reports`` (a module a kind); this module lays
out the page. Every chart is a plotly figure in a ``div`` whose id names it (``equity``,
``fan-bootstrap``, ...), so a reader (or a test, in a browser) finds the figure there.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.research.results import read_result


@dataclass
class Section:
    """A heading, then its paragraphs, tables and charts, in the order added."""

    title: str
    parts: list[str] = field(default_factory=list)

    def text(self, words: str) -> Section:
        self.parts.append(f"<p>{html.escape(words)}</p>")
        return self

    def items(self, lines: Sequence[str]) -> Section:
        self.parts.append("<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in lines)
                          + "</ul>")
        return self

    def table(self, rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None,
              table_id: str | None = None) -> Section:
        self.parts.append(html_table(rows, columns, table_id))
        return self

    def chart(self, div_id: str, figure: Any) -> Section:
        figure.update_layout(template="plotly_white", margin={"l": 60, "r": 20, "t": 50,
                                                               "b": 50})
        self.parts.append(figure.to_html(full_html=False, include_plotlyjs=False,
                                         div_id=div_id, config={"displaylogo": False}))
        return self


def write_report(folder: str | Path, output: str | Path | None = None) -> Path:
    """Write the HTML report of the result in ``folder`` to ``output`` (default
    ``folder/report.html``); returns its path. ``ConfigError`` naming the file when ``folder``
    holds no readable result."""
    from engine.outputs import write_files
    from engine.research.reports import RENDERERS

    content = read_result(folder)
    kind = content["kind"]
    sections = RENDERERS[kind](Path(folder), content)
    page = render_page(f"raytrader {kind} report", content, sections)
    target = Path(output) if output is not None else Path(folder) / "report.html"
    write_files(target.parent, {target.name: lambda p: p.write_text(page, encoding="utf-8")})
    return target


def render_page(title: str, content: Mapping[str, Any], sections: Sequence[Section]) -> str:
    """The whole HTML page: the envelope's summary and inputs, then ``sections``."""
    from plotly.offline import get_plotlyjs

    summary = Section("Summary").table(
        [{"name": k, "value": fmt(v)} for k, v in content["summary"].items()],
        table_id="summary")
    inputs = Section("Inputs").table(
        [{"name": k, "value": fmt(v)} for k, v in sorted(content["inputs"].items())],
        table_id="inputs")
    body = "".join(f"<section><h2>{html.escape(s.title)}</h2>{''.join(s.parts)}</section>"
                   for s in [summary, *sections, inputs])
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p class=\"files\">files: {html.escape(', '.join(content['files']) or 'none')}</p>"
        f"{body}</body></html>\n")


def html_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None,
               table_id: str | None = None) -> str:
    """An HTML table of ``rows`` (``columns``: which keys, in order; default the first row's)."""
    if not rows:
        return "<p><em>none</em></p>"
    cols = list(columns) if columns is not None else list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(row.get(c)))}</td>" for c in cols)
                   + "</tr>" for row in rows)
    ident = f" id=\"{html.escape(table_id)}\"" if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def fmt(value: Any) -> str:
    """A value as a table shows it: floats to 6 significant digits, None as n/a."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={fmt(v)}" for k, v in value.items())
    return str(value)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
.files { color: #666; font-size: 0.9em; }
"""

__all__ = ["Section", "fmt", "html_table", "render_page", "write_report"]
