#!/usr/bin/env python3
"""Renders the book to HTML with pandoc: `make book`, or

    /usr/bin/python3 common/book/render.py [--output DIR]   (default: build/book)

Each markdown file of book/ becomes one page: README.md the contents page,
index.html, each chapter NN-name.md the page NN-name.html, and each
appendix (any other name.md) name.html. The pages are read in one line:
contents, chapters, then the appendices in the order the contents page
links to them. Each links to the one before and after it; every page lists
the chapters and appendices beside its text. Links between the
markdown files become links between the pages (links.lua), an image alone
in its paragraph becomes a figure with a caption (figures.lua), and the
book's images, its figures (drawn by figures.py into book/figures/) and the
style sheet are copied beside the pages.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent.parent
BOOK = REPOSITORY / "book"
DEFAULT_OUTPUT = REPOSITORY / "build" / "book"


@dataclass(frozen=True)
class Page:
    source: Path

    @property
    def html_name(self) -> str:
        return "index.html" if self.source.name == "README.md" else self.source.with_suffix(".html").name

    @property
    def is_chapter(self) -> bool:
        """A chapter or an appendix: every page but the contents."""
        return self.source.name != "README.md"

    @property
    def title(self) -> str:
        """The text of the first '# ' heading."""
        for line in self.source.read_text().splitlines():
            if line.startswith("# "):
                return line[2:].strip()
        raise SystemExit(f"{self.source}: no title (a line '# ...') to name the page by")


def pages_of(book: Path) -> list[Page]:
    """The contents page first, then the chapters in order, then the
    appendices: in the order of the contents page's first link to each,
    those it does not link to last, by name."""
    contents = book / "README.md"
    chapters = sorted(book.glob("[0-9][0-9]-*.md"))
    linked = re.findall(r"\]\(([\w-]+\.md)\)", contents.read_text())
    def place(path: Path) -> tuple[int, str]:
        return (linked.index(path.name) if path.name in linked else len(linked), path.name)
    appendices = sorted(set(book.glob("*.md")) - set(chapters) - {contents}, key=place)
    return [Page(contents)] + [Page(path) for path in chapters + appendices]


def link(page: Page) -> dict[str, str]:
    return {"href": page.html_name, "title": page.title}


def metadata(page: Page, pages: list[Page]) -> dict:
    """What the template needs besides the text: the page's title, its
    neighbours in reading order and the list of chapters."""
    position = pages.index(page)
    values = {
        "pagetitle": page.title,
        "chapters": [link(chapter) | {"current": chapter == page} for chapter in pages if chapter.is_chapter],
    }
    if position > 0:
        values["previous"] = link(pages[position - 1])
    if position + 1 < len(pages):
        values["next"] = link(pages[position + 1])
    return values


def render_page(page: Page, pages: list[Page], output: Path, scratch: Path) -> None:
    metadata_file = scratch / f"{page.source.stem}.json"
    metadata_file.write_text(json.dumps(metadata(page, pages)))
    command = [
        "pandoc", str(page.source),
        "--from", "gfm",  # the book is written for GitHub, whose heading anchors it may link to
        "--to", "html5",
        "--standalone", "--template", str(HERE / "template.html"),
        "--metadata-file", str(metadata_file),
        "--lua-filter", str(HERE / "links.lua"),
        "--lua-filter", str(HERE / "figures.lua"),
        "--output", str(output / page.html_name),
    ]
    if page.is_chapter:
        command += ["--toc", "--toc-depth", "2"]
    subprocess.run(command, check=True)


def render(book: Path, output: Path) -> None:
    if shutil.which("pandoc") is None:
        raise SystemExit("pandoc is not installed; install it with: sudo apt-get install pandoc")
    output.mkdir(parents=True, exist_ok=True)
    pages = pages_of(book)
    # One pandoc per page, side by side: each spends a second starting up.
    with tempfile.TemporaryDirectory() as scratch, ThreadPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(lambda page: render_page(page, pages, output, Path(scratch)), pages))
    shutil.copy(HERE / "style.css", output / "style.css")
    for pictures in ("images", "figures"):
        if (book / pictures).is_dir():
            shutil.copytree(book / pictures, output / pictures, dirs_exist_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where the pages go")
    arguments = parser.parse_args()
    render(BOOK, arguments.output)
    print(f"The book is in {arguments.output}/index.html", file=sys.stderr)


if __name__ == "__main__":
    main()
