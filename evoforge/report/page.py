"""A self-contained HTML page: sections of text, tables, figures and animations, everything inlined.

Figures are PNGs and animations MP4s (H.264, which every current browser plays) embedded as base64 data URIs,
so a report is one file that can be mailed, attached to a lab notebook or opened offline years later. The only
script sorts tables and builds the table of contents; the page reads fine without it.
"""

from __future__ import annotations

import base64
import html
import io
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evoforge.media import write_video


@dataclass
class Block:
    """One rendered piece of a section (already HTML)."""

    html: str


@dataclass
class Section:
    """A titled part of the report; ``anchor`` is its id in the page (for the table of contents)."""

    title: str
    anchor: str
    blocks: list[Block] = field(default_factory=list)

    def text(self, text: str) -> "Section":
        """A paragraph of plain text (escaped)."""
        self.blocks.append(Block(f"<p>{html.escape(text)}</p>"))
        return self

    def note(self, text: str) -> "Section":
        """A muted remark, e.g. why a view is missing."""
        self.blocks.append(Block(f'<p class="note">{html.escape(text)}</p>'))
        return self

    def code(self, text: str, summary: str | None = None) -> "Section":
        """Preformatted text; inside a collapsible box if ``summary`` is given."""
        pre = f"<pre>{html.escape(text)}</pre>"
        if summary is not None:
            pre = f"<details><summary>{html.escape(summary)}</summary>{pre}</details>"
        self.blocks.append(Block(pre))
        return self

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]], caption: str | None = None,
              fold_after: int = 40) -> "Section":
        """A sortable table (click a column header); numbers are right-aligned and printed compactly. Tables
        longer than ``fold_after`` rows start folded (a click opens them)."""
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = "".join("<tr>" + "".join(_cell(value) for value in row) + "</tr>" for row in rows)
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        table = f'<table class="sortable">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
        if len(rows) > fold_after:
            table = f"<details><summary>{html.escape(caption or 'table')} ({len(rows)} rows)</summary>{table}</details>"
        self.blocks.append(Block(table))
        return self

    def figure(self, figure: Any, caption: str, dpi: int = 100) -> "Section":
        """A matplotlib figure (closed after rendering) or a PNG file, inlined."""
        if isinstance(figure, (str, Path)):
            data = Path(figure).read_bytes()
        else:
            import matplotlib.pyplot as plt

            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
            plt.close(figure)
            data = buffer.getvalue()
        return self.image(data, caption)

    def image(self, png: bytes | np.ndarray, caption: str) -> "Section":
        """A PNG (bytes) or an RGB array, inlined."""
        if isinstance(png, np.ndarray):
            import imageio.v2 as imageio

            png = imageio.imwrite("<bytes>", png, extension=".png")
        source = "data:image/png;base64," + base64.b64encode(png).decode()
        self.blocks.append(Block(f'<figure><img src="{source}" alt="{html.escape(caption)}">'
                                 f"<figcaption>{html.escape(caption)}</figcaption></figure>"))
        return self

    def animation(self, frames: Sequence[np.ndarray], caption: str, fps: int = 30, max_frames: int = 300,
                  max_width: int = 480) -> "Section":
        """RGB frames as a looping MP4; long clips are thinned evenly and large frames downscaled by striding."""
        if not frames:
            return self.note(f"{caption}: no frames")
        if len(frames) > max_frames:
            frames = [frames[int(i)] for i in np.linspace(0, len(frames) - 1, max_frames)]
            fps = max(1, round(fps * max_frames / len(frames)))
        stride = max(1, -(-frames[0].shape[1] // max_width))
        # H.264 in yuv420p needs even sizes.
        frames = [np.ascontiguousarray(f[::stride, ::stride][: f.shape[0] // stride // 2 * 2,
                                                              : f.shape[1] // stride // 2 * 2]) for f in frames]
        with tempfile.TemporaryDirectory() as tmp:
            data = write_video(frames, Path(tmp) / "clip.mp4", fps=fps).read_bytes()
        source = "data:video/mp4;base64," + base64.b64encode(data).decode()
        self.blocks.append(Block(f'<figure><video src="{source}" controls loop muted autoplay playsinline></video>'
                                 f"<figcaption>{html.escape(caption)}</figcaption></figure>"))
        return self


def _cell(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return f"<td>{'yes' if value else 'no'}</td>"
    if isinstance(value, (int, np.integer)):
        return f'<td class="num" data-sort="{int(value)}">{int(value):,}</td>'
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not np.isfinite(value):
            return f'<td class="num" data-sort="{-1e308 if value < 0 else 1e308}">{value}</td>'
        text = f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"
        return f'<td class="num" data-sort="{value!r}">{text}</td>'
    if value is None:
        return '<td class="muted">-</td>'
    return f"<td>{html.escape(str(value))}</td>"


@dataclass
class Report:
    """The whole page: a title, a subtitle line and sections in order."""

    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # views that failed to render, for the caller to print

    def section(self, title: str) -> Section:
        """Append a new section titled ``title`` (listed in the table of contents) and return it to fill."""
        anchor = f"s{len(self.sections)}"
        self.sections.append(Section(title, anchor))
        return self.sections[-1]

    def render(self) -> str:
        """The whole report as one self-contained HTML document."""
        toc = "".join(f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>' for s in self.sections)
        body = "".join(f'<section id="{s.anchor}"><h2>{html.escape(s.title)}</h2>'
                       + "".join(b.html for b in s.blocks) + "</section>" for s in self.sections)
        return (_TEMPLATE.replace("{{title}}", html.escape(self.title))
                .replace("{{subtitle}}", html.escape(self.subtitle))
                .replace("{{toc}}", toc).replace("{{body}}", body))


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="evoforge report">
<title>{{title}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 0; color: #1d2329; background: #fafbfc; }
header { padding: 1.2em 2em; background: #24303c; color: #fff; }
header h1 { margin: 0 0 .2em 0; font-size: 1.5em; }
header p { margin: 0; opacity: .8; }
nav { position: sticky; top: 0; background: #eef1f4; padding: .4em 2em; border-bottom: 1px solid #d5dbe1; z-index: 1; }
nav ul { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: .3em 1.2em; }
nav a { color: #24303c; text-decoration: none; font-size: .9em; }
main { padding: 0 2em 3em 2em; max-width: 1200px; }
section { margin-top: 1.6em; }
h2 { border-bottom: 1px solid #d5dbe1; padding-bottom: .2em; font-size: 1.2em; }
table { border-collapse: collapse; margin: .6em 0; font-size: .88em; background: #fff; }
caption { text-align: left; font-weight: 600; padding: .3em 0; }
th, td { border: 1px solid #d5dbe1; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #eef1f4; cursor: pointer; user-select: none; }
th.sorted-asc::after { content: " \\25B2"; } th.sorted-desc::after { content: " \\25BC"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.muted, p.note { color: #6a737d; }
figure { margin: .8em 0; display: inline-block; max-width: 100%; vertical-align: top; }
figure img, figure video { max-width: 100%; border: 1px solid #d5dbe1; background: #fff; }
figcaption { font-size: .85em; color: #444; max-width: 900px; }
pre { background: #fff; border: 1px solid #d5dbe1; padding: .6em; overflow-x: auto; font-size: .85em; }
details summary { cursor: pointer; }
</style></head>
<body>
<header><h1>{{title}}</h1><p>{{subtitle}}</p></header>
<nav><ul>{{toc}}</ul></nav>
<main>{{body}}</main>
<script>
// Click a column header to sort a table by it (numbers by value, text alphabetically).
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var ascending = !th.classList.contains("sorted-asc");
      table.querySelectorAll("th").forEach(function (h) { h.classList.remove("sorted-asc", "sorted-desc"); });
      th.classList.add(ascending ? "sorted-asc" : "sorted-desc");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[column], y = b.cells[column];
        var u = x.dataset.sort !== undefined ? parseFloat(x.dataset.sort) : x.textContent;
        var v = y.dataset.sort !== undefined ? parseFloat(y.dataset.sort) : y.textContent;
        var order = (typeof u === "number" && typeof v === "number") ? u - v : String(u).localeCompare(String(v));
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
document.body.dataset.figures = String(document.querySelectorAll("figure").length);
</script>
</body></html>
"""
