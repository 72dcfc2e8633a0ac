"""The HTML book (`make book`) as a reader's browser shows it.

The book is rendered into a temporary directory and opened in headless
Chromium. A checker page holds every page of the book in an iframe; once all
of them have loaded (with their images), a script in the checker looks into
each one, through the DOM the browser built, and writes what it found into
its own page, which `--dump-dom` prints. It checks that every page loaded,
that every image loaded, that every link inside the book
leads to a page of the book and to an anchor that exists there, that the
C++ and NASM code is highlighted, and that every figure has a caption and,
if it is one of the drawn figures (figures/*.svg), a number ("Figure 6.2:")
that the text of its page mentions outside the caption.

So that the check is known to see failures, the checker also opens a page
broken on purpose, and its problems must be found, no more and no fewer.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import host
from chapters import REPOSITORY
from ppm import ppm_to_png
from scratch import directory as scratch_directory

# The module's fixture renders the book and runs Chromium, once on every
# worker that runs one of its tests: kept on one worker (make test runs
# --dist loadgroup), that work is done once. A test of the book, not of a
# chapter's kernel: --chapter leaves it out.
pytestmark = [pytest.mark.xdist_group("book-html"), pytest.mark.book, pytest.mark.slow]

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
CHECKER_SCRIPT = r"""
window.addEventListener("error", event => {
  document.getElementById("results").textContent = JSON.stringify({error: event.message});
});
window.addEventListener("load", () => {
  const frames = [...document.querySelectorAll("iframe")];
  const documents = new Map(frames.map(frame => [frame.src, frame.contentDocument]));
  const problems = [], highlighted = {cpp: 0, nasm: 0}, figures = [];
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
    for (const figure of doc.querySelectorAll("figure")) {
      const image = figure.querySelector("img"), caption = figure.querySelector("figcaption");
      const source = image ? image.getAttribute("src") : "(no image)";
      if (!caption || !caption.textContent.trim()) {
        problems.push(`${page}: figure ${source} has no caption`);
        continue;
      }
      if (!source.startsWith("figures/")) continue;  // a screenshot: described, not numbered
      const number = caption.textContent.match(/^Figure (\d+\.\d+):/);
      if (!number) {
        problems.push(`${page}: figure ${source} has no number ("Figure N.M:") in its caption`);
        continue;
      }
      const text = doc.body.cloneNode(true);
      for (const other of text.querySelectorAll("figcaption, nav")) other.remove();
      if (!new RegExp(`\\bfigures?\\s+${number[1].replace(".", "\\.")}\\b`, "i").test(text.textContent))
        problems.push(`${page}: figure ${number[1]} (${source}) is not mentioned in the text`);
      else if (image.complete && image.naturalWidth > 0)
        figures.push(`${page}: ${source}`);
    }
    for (const language of Object.keys(highlighted)) {
      highlighted[language] += doc.querySelectorAll(`pre.sourceCode.${language}`).length;
      for (const block of doc.querySelectorAll(`pre.${language}:not(.sourceCode)`))
        problems.push(`${page}: a ${language} block is not highlighted`);
    }
  }
  document.getElementById("results").textContent = JSON.stringify({problems, highlighted, figures});
});
"""

# A page with one problem of each kind the checker must find, and one image
# that does load (a checker that failed every image would be caught too).
BROKEN_PAGE = """<!DOCTYPE html>
<html><head><title>broken on purpose</title></head>
<body><p>Broken on purpose.</p>
<img src="images/good.png"><img src="images/missing.png">
<a href="index.html">fine</a><a href="no-such-page.html">page</a><a href="index.html#no-such-anchor">anchor</a>
<figure><img src="images/good.png"><figcaption> </figcaption></figure>
<figure><img src="figures/good.svg"><figcaption>Figure 9.1: never mentioned</figcaption></figure>
<figure><img src="figures/good.svg"><figcaption>A drawn figure without a number</figcaption></figure>
<p>Figure 9.2 is mentioned.</p>
<figure><img src="figures/good.svg"><figcaption>Figure 9.2: mentioned, so fine</figcaption></figure>
</body></html>
"""
BROKEN_PAGE_PROBLEMS = {
    "broken-on-purpose.html: image images/missing.png did not load",
    "broken-on-purpose.html: link no-such-page.html leads to no page of the book",
    "broken-on-purpose.html: link index.html#no-such-anchor leads to no anchor",
    "broken-on-purpose.html: figure images/good.png has no caption",
    "broken-on-purpose.html: figure 9.1 (figures/good.svg) is not mentioned in the text",
    'broken-on-purpose.html: figure figures/good.svg has no number ("Figure N.M:") in its caption',
}
# The one figure of the broken page that passes every check.
BROKEN_PAGE_GOOD_FIGURES = ["broken-on-purpose.html: figures/good.svg"]
ONE_DOT_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>\n'
# The drawn figures the book must show, at least (issue 13 asks for eight).
MINIMUM_FIGURES = 8
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
    chromium = host.command("chromium")  # or Google's build, where Ubuntu has only a snap
    if chromium is None:
        pytest.fail("chromium is not installed; install it with: sudo apt-get install chromium "
                    "(on Ubuntu: google-chrome-stable)", pytrace=False)
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
    with tempfile.TemporaryDirectory(prefix="book-html-", dir=scratch_directory()) as scratch:
        output, profile = Path(scratch) / "book", Path(scratch) / "chromium-profile"
        render_book(output)
        book_pages = sorted(output.glob("*.html"))
        (output / "broken-on-purpose.html").write_text(BROKEN_PAGE)
        (output / "images").mkdir(exist_ok=True)
        (output / "images" / "good.png").write_bytes(ONE_WHITE_PIXEL)
        (output / "figures").mkdir(exist_ok=True)
        (output / "figures" / "good.svg").write_text(ONE_DOT_SVG)
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


def test_the_checker_accepts_a_good_figure(book_check):
    _, results = book_check
    found = [figure for figure in results["figures"] if figure.startswith("broken-on-purpose.html:")]
    assert found == BROKEN_PAGE_GOOD_FIGURES


def test_every_drawn_figure_shows_with_its_caption_and_is_mentioned(book_check):
    """Each SVG of book/figures/ appears in some page, loaded, with a numbered
    caption that the page's text refers to (the problems are reported by
    test_every_page_image_and_internal_link_of_the_book_works)."""
    _, results = book_check
    shown = {figure.split(": ", 1)[1] for figure in results["figures"]
             if not figure.startswith("broken-on-purpose.html:")}
    drawn = {f"figures/{path.name}" for path in (BOOK / "figures").glob("*.svg")}
    assert drawn <= shown, f"figures not shown with a caption in any page: {sorted(drawn - shown)}"
    assert len(shown) >= MINIMUM_FIGURES, f"only {len(shown)} figures: {sorted(shown)}"


def test_every_page_image_and_internal_link_of_the_book_works(book_check):
    _, results = book_check
    problems = [problem for problem in results["problems"] if not problem.startswith("broken-on-purpose.html:")]
    assert not problems, "in the browser:\n" + "\n".join(problems)


def test_cpp_and_nasm_code_is_highlighted(book_check):
    _, results = book_check
    assert results["highlighted"]["cpp"] > 0 and results["highlighted"]["nasm"] > 0, (
        f"highlighted blocks: {results['highlighted']}; pandoc highlights blocks fenced ```cpp and ```nasm")
