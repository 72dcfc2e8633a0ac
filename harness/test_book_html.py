"""The HTML book (`make book`) as a reader's browser shows it.

The book is rendered into a temporary directory and opened in headless
Chromium. A checker page holds every page of the book in an iframe; once all
of them have loaded (with their images), a script in the checker looks into
each one, through the DOM the browser built, and writes what it found into
its own page, which `--dump-dom` prints. It checks that every page loaded,
that every image loaded, that every link inside the book
leads to a page of the book and to an anchor that exists there, and that the
C++ and NASM code is highlighted.

So that the check is known to see failures, the checker also opens a page
broken on purpose, and its problems must be found, no more and no fewer.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from chapters import REPOSITORY
from screenshot import ppm_to_png

# The module's fixture renders the book and runs Chromium, once on every
# worker that runs one of its tests: kept on one worker (make test runs
# --dist loadgroup), that work is done once.
pytestmark = pytest.mark.xdist_group("book-html")

RENDER = REPOSITORY / "common" / "book" / "render.py"
BOOK = REPOSITORY / "book"

# Headless, with a fresh profile and nothing that reaches the network.
# --allow-file-access-from-files lets the checker page read the DOM of the
# book's pages, which are file:// URLs like itself.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--allow-file-access-from-files",
]
CHROMIUM_TIMEOUT = 60  # seconds; a loaded machine takes 2-4

# Runs in the checker page when every iframe (and every image in it) has
# loaded, and writes its findings as JSON into <pre id="results">.
CHECKER_SCRIPT = """
window.addEventListener("error", event => {
  document.getElementById("results").textContent = JSON.stringify({error: event.message});
});
window.addEventListener("load", () => {
  const frames = [...document.querySelectorAll("iframe")];
  const documents = new Map(frames.map(frame => [frame.src, frame.contentDocument]));
  const problems = [], highlighted = {cpp: 0, nasm: 0};
  for (const [url, doc] of documents) {
    const page = url.split("/").pop();
    if (!doc || doc.URL !== url || !doc.body.textContent.trim()) {
      problems.push(`${page}: did not load`);
      continue;
    }
    for (const image of doc.images) {
      if (!image.complete || image.naturalWidth === 0)
        problems.push(`${page}: image ${image.getAttribute("src")} did not load`);
    }
    for (const link of doc.querySelectorAll("a[href]")) {
      const target = new URL(link.href);
      if (target.protocol !== "file:") continue;  // a link out of the book, to the web
      const targetPage = target.href.split("#")[0], targetDocument = documents.get(targetPage);
      const href = link.getAttribute("href");
      if (!documents.has(targetPage))
        problems.push(`${page}: link ${href} leads to no page of the book`);
      else if (targetDocument && target.hash &&
               !targetDocument.getElementById(decodeURIComponent(target.hash.slice(1))))
        problems.push(`${page}: link ${href} leads to no anchor`);
    }
    for (const language of Object.keys(highlighted)) {
      highlighted[language] += doc.querySelectorAll(`pre.sourceCode.${language}`).length;
      for (const block of doc.querySelectorAll(`pre.${language}:not(.sourceCode)`))
        problems.push(`${page}: a ${language} block is not highlighted`);
    }
  }
  document.getElementById("results").textContent = JSON.stringify({problems, highlighted});
});
"""

# A page with one problem of each kind the checker must find, and one image
# that does load (a checker that failed every image would be caught too).
BROKEN_PAGE = """<!DOCTYPE html>
<html><head><title>broken on purpose</title></head>
<body><p>Broken on purpose.</p>
<img src="images/good.png"><img src="images/missing.png">
<a href="index.html">fine</a><a href="no-such-page.html">page</a><a href="index.html#no-such-anchor">anchor</a>
</body></html>
"""
BROKEN_PAGE_PROBLEMS = {
    "broken-on-purpose.html: image images/missing.png did not load",
    "broken-on-purpose.html: link no-such-page.html leads to no page of the book",
    "broken-on-purpose.html: link index.html#no-such-anchor leads to no anchor",
}
ONE_WHITE_PIXEL = ppm_to_png(b"P6 1 1 255\n\xff\xff\xff")


def render_book(output: Path) -> None:
    result = subprocess.run([sys.executable, str(RENDER), "--output", str(output)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"make book failed:\n{result.stderr}", pytrace=False)


def write_checker(directory: Path, pages: list[Path]) -> Path:
    frames = "\n".join(f'<iframe src="{page.as_uri()}"></iframe>' for page in pages)
    checker = directory / "checker.html"
    checker.write_text(f"<!DOCTYPE html>\n<html><body>\n{frames}\n<pre id=\"results\"></pre>\n"
                       f"<script>{CHECKER_SCRIPT}</script>\n</body></html>\n")
    return checker


def run_checker(checker: Path, profile: Path) -> dict:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed; install it with: sudo apt-get install chromium", pytrace=False)
    try:
        result = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                                 checker.as_uri()],
                                capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium did not finish the checker page within {CHROMIUM_TIMEOUT} s", pytrace=False)
    match = re.search(r'<pre id="results">(.+?)</pre>', result.stdout, re.DOTALL)
    if match is None:
        pytest.fail(f"the checker page wrote no results (chromium exit status {result.returncode}):\n"
                    f"{result.stderr[-3000:]}", pytrace=False)
    results = json.loads(html.unescape(match[1]))
    if "error" in results:
        pytest.fail(f"the checker page's script failed: {results['error']}", pytrace=False)
    return results


@pytest.fixture(scope="module")
def book_check() -> tuple[list[Path], dict]:
    """Renders the book, adds the broken page, and runs the checker once."""
    with tempfile.TemporaryDirectory(prefix="book-html-") as scratch:
        output, profile = Path(scratch) / "book", Path(scratch) / "chromium-profile"
        render_book(output)
        book_pages = sorted(output.glob("*.html"))
        (output / "broken-on-purpose.html").write_text(BROKEN_PAGE)
        (output / "images").mkdir(exist_ok=True)
        (output / "images" / "good.png").write_bytes(ONE_WHITE_PIXEL)
        checker = write_checker(Path(scratch), book_pages + [output / "broken-on-purpose.html"])
        yield book_pages, run_checker(checker, profile)


def test_every_markdown_file_of_the_book_has_its_page(book_check):
    book_pages, _ = book_check
    expected = {"index.html"} | {path.with_suffix(".html").name for path in BOOK.glob("*.md")
                                  if path.name != "README.md"}
    assert {page.name for page in book_pages} == expected


def test_the_checker_finds_each_kind_of_problem(book_check):
    _, results = book_check
    found = {problem for problem in results["problems"] if problem.startswith("broken-on-purpose.html:")}
    assert found == BROKEN_PAGE_PROBLEMS


def test_every_page_image_and_internal_link_of_the_book_works(book_check):
    _, results = book_check
    problems = [problem for problem in results["problems"] if not problem.startswith("broken-on-purpose.html:")]
    assert not problems, "in the browser:\n" + "\n".join(problems)


def test_cpp_and_nasm_code_is_highlighted(book_check):
    _, results = book_check
    assert results["highlighted"]["cpp"] > 0 and results["highlighted"]["nasm"] > 0, (
        f"highlighted blocks: {results['highlighted']}; pandoc highlights blocks fenced ```cpp and ```nasm")
