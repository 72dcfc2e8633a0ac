"""A very small SVG writer for the book's figures (figures.py).

It knows boxes, text, lines and arrows, which is all a diagram of memory and
of control flow needs, and writes them in a fixed order with fixed number
formats, so that the same figure always becomes the same bytes: the book's
test compares the committed SVG files with a fresh run.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
MONOSPACE = "DejaVu Sans Mono, Menlo, Consolas, monospace"

# The colours of the figures, chosen to print well in grey too.
INK = "#1a1a1a"
MUTED = "#666666"
PAPER = "#ffffff"
CPU = "#dbe8f6"       # what the processor does or holds
CODE = "#fdf1d6"      # what the kernel's code does or holds
UNMAPPED = "#f6d5d2"  # guard pages, failures
NEUTRAL = "#eeeeee"


def number(value: float) -> str:
    """A coordinate without a useless fraction: 12, 12.5."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


class Drawing:
    def __init__(self, width: float, height: float, title: str):
        self.width, self.height, self.title = width, height, title
        self.elements: list[str] = []

    def _add(self, tag: str, attributes: dict[str, object], content: str | None = None) -> None:
        def value_text(value: object) -> str:
            return number(value) if isinstance(value, (int, float)) else str(value)
        text = " ".join(f"{name.replace('_', '-')}={quoteattr(value_text(value))}"
                        for name, value in attributes.items() if value is not None)
        self.elements.append(f"<{tag} {text}/>" if content is None else f"<{tag} {text}>{content}</{tag}>")

    def box(self, x: float, y: float, width: float, height: float, fill: str = PAPER,
            stroke: str = INK, dashed: bool = False) -> None:
        self._add("rect", {"x": x, "y": y, "width": width, "height": height, "fill": fill,
                           "stroke": stroke, "stroke_width": 1.2,
                           "stroke_dasharray": "5 3" if dashed else None})

    def text(self, x: float, y: float, content: str, size: float = 13, anchor: str = "middle",
             bold: bool = False, monospace: bool = False, colour: str = INK) -> None:
        """Text whose baseline-middle (or start, or end) is at (x, y)."""
        self._add("text", {"x": x, "y": y, "font_size": size, "text_anchor": anchor,
                           "font_family": MONOSPACE if monospace else FONT,
                           "font_weight": "bold" if bold else None, "fill": colour}, escape(content))

    def labelled_box(self, x: float, y: float, width: float, height: float, lines: list[str],
                     fill: str = PAPER, monospace_from: int = 99, dashed: bool = False) -> None:
        """A box with lines of text centred in it; lines from index
        monospace_from on are set in the monospace font (names of code)."""
        self.box(x, y, width, height, fill, dashed=dashed)
        line_height = 16
        top = y + height / 2 - line_height * (len(lines) - 1) / 2 + 4.5
        for index, line in enumerate(lines):
            self.text(x + width / 2, top + index * line_height, line, bold=index == 0 and len(lines) > 1,
                      monospace=index >= monospace_from, size=13 if index == 0 else 12)

    def line(self, x1: float, y1: float, x2: float, y2: float, colour: str = INK,
             arrow: bool = False, dashed: bool = False) -> None:
        self._add("line", {"x1": x1, "y1": y1, "x2": x2, "y2": y2, "stroke": colour,
                           "stroke_width": 1.4, "stroke_dasharray": "5 3" if dashed else None,
                           "marker_end": "url(#arrow)" if arrow else None})

    def arrow(self, x1: float, y1: float, x2: float, y2: float, colour: str = INK,
              dashed: bool = False) -> None:
        self.line(x1, y1, x2, y2, colour, arrow=True, dashed=dashed)

    def svg(self) -> str:
        header = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{number(self.width)}" '
                  f'height="{number(self.height)}" viewBox="0 0 {number(self.width)} {number(self.height)}" '
                  f'role="img">')
        # The arrow head takes the colour of the line it ends (context-stroke
        # is not everywhere yet, so it is drawn in the ink colour).
        definitions = ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
                       f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
                       f'fill="{INK}"/></marker></defs>')
        background = f'<rect x="0" y="0" width="100%" height="100%" fill="{PAPER}"/>'
        body = "\n".join([header, f"<title>{escape(self.title)}</title>", definitions, background,
                          *self.elements, "</svg>"])
        return body + "\n"
