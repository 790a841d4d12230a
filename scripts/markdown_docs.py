#!/usr/bin/env python3
"""
Keep the Markdown pages honest: fill their include blocks from the real files, and find broken links.

    python scripts/markdown_docs.py            # refresh every include block in place (make docs)
    python scripts/markdown_docs.py --check    # list stale include blocks and broken links; exit 1 if any

An include block shows the lines of a repository file between its ``# [START name]`` and ``# [END name]``
comment lines, dedented, without the marker lines of other blocks nested inside, so a page shows exactly the
code the tests run (Airflow's ``exampleinclude``, for pages GitHub renders)::

    <!-- include: example_dags/asana_organization_export_to_lake.py#howto_sensor_asana_organization_export -->
    ```python
    (filled in by this script)
    ```
    <!-- end include -->

The path is relative to the repository root. A relative link (``[text](path)``, ``![alt](path)``, a reference
definition, an HTML ``href``/``src``) must name a file or folder of the repository, and its anchor
(``page.md#anchor``, ``#anchor``) a heading or ``<a id>`` of that page, by GitHub's rules for heading ids.
Standard library only: it runs before ``make install``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: Folders that are not part of the documentation: tool caches, virtualenvs, build and run output.
SKIPPED_DIRS = {"build", "dist", "node_modules", "__pycache__"}

INCLUDE_START = re.compile(r"^<!-- include: (?P<path>[^#\s]+)#(?P<name>[\w.-]+) -->$")
INCLUDE_END = "<!-- end include -->"
MARKER = re.compile(r"^\s*# \[(?P<kind>START|END) (?P<name>[\w.-]+)\]\s*$")
FENCE_LANGUAGES = {".py": "python", ".sh": "bash", ".toml": "toml", ".yaml": "yaml", ".yml": "yaml"}

_FENCE = re.compile(r"^\s*(?P<fence>`{3,}|~{3,})")
_ATX_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]+(?P<text>.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_HTML_ANCHOR = re.compile(r"""<a\s[^>]*?(?:id|name)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_CODE_SPAN = re.compile(r"(`+)((?:(?!\n[ \t]*\n).)+?)\1", re.DOTALL)
_INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]"  # [text], one level of nested brackets allowed
    r"\(\s*<?(?P<target>[^()\s<>]*)>?(?:\s+[\"'(][^)]*)?\)"  # (target "optional title")
)
_REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*<?(?P<target>[^\s>]+)>?", re.MULTILINE)
_HTML_LINK = re.compile(r"""\b(?:href|src)\s*=\s*["'](?P<target>[^"']*)["']""", re.IGNORECASE)
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_LINE_ANCHOR = re.compile(r"^L\d+(?:-L\d+)?$")


class DocsError(Exception):
    """A page or a file it includes is malformed: the message names the file, the line and the fix."""


# -- pages ------------------------------------------------------------------------------------------------


def markdown_files(root: Path = REPO) -> list[Path]:
    """Every Markdown file of the repository, outside hidden folders (``.venv``, ``.git``, caches)."""
    pages = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [
            name for name in subfolders
            if not (name.startswith(".") or name in SKIPPED_DIRS or name.endswith(".egg-info"))
        ]
        pages += [Path(folder) / name for name in files if name.endswith(".md")]
    return sorted(pages)


def fenced_blocks(lines: list[str]) -> Iterator[tuple[int, int, str]]:
    """``(opening fence index, closing fence index, info string)`` of every fenced code block in ``lines``."""
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        fence = opening["fence"]
        info = lines[index].strip()[len(fence) :].strip()
        close = index + 1
        while close < len(lines):
            candidate = lines[close].strip()
            if candidate.startswith(fence) and not candidate.lstrip(fence[0]):
                break
            close += 1
        yield index, close, info
        index = close + 1


def prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of every line outside fenced code blocks."""
    lines = text.splitlines()
    code = {i for start, end, _ in fenced_blocks(lines) for i in range(start, end + 1)}
    for index, line in enumerate(lines):
        if index not in code:
            yield index + 1, line


def code_blocks(text: str, language: str) -> Iterator[tuple[int, str]]:
    """``(line number of the opening fence, code)`` of every fenced block tagged ``language``."""
    lines = text.splitlines()
    for start, end, info in fenced_blocks(lines):
        if info.split(" ", 1)[0] == language:
            yield start + 1, textwrap.dedent("\n".join(lines[start + 1 : end]))


# -- anchors ----------------------------------------------------------------------------------------------


def heading_text(markdown: str) -> str:
    """The text GitHub renders for a heading's Markdown: code spans keep their content, markup goes."""
    pieces = []
    position = 0
    for span in _CODE_SPAN.finditer(markdown):
        pieces.append(_strip_markup(markdown[position : span.start()]))
        pieces.append(span.group(2).strip())
        position = span.end()
    pieces.append(_strip_markup(markdown[position:]))
    return "".join(pieces)


def _strip_markup(markdown: str) -> str:
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", markdown)  # links and images: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = re.sub(r"\\(.)", r"\1", text)  # backslash escapes
    text = re.sub(r"(?<!\w)_+|_+(?!\w)", "", text)  # _emphasis_; snake_case stays
    return text.replace("*", "")


def github_slug(text: str) -> str:
    """GitHub's id for a heading: lowercase, punctuation (but ``-``, ``_``) dropped, spaces to ``-``."""
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The ids of a page's headings (repeats numbered ``-1``, ``-2``, as GitHub does) and its ``<a id>``s."""
    found: set[str] = set()
    occurrences: dict[str, int] = {}
    previous, previous_number = "", 0
    for number, line in prose_lines(text):
        heading = None
        atx = _ATX_HEADING.match(line)
        if atx:
            heading = atx["text"] or ""
        elif previous.strip() and previous_number == number - 1 and _SETEXT_UNDERLINE.match(line):
            heading = previous.strip()
        if heading is not None:
            slug = base = github_slug(heading_text(heading))
            while slug in occurrences:
                occurrences[base] += 1
                slug = f"{base}-{occurrences[base]}"
            occurrences[slug] = 0
            found.add(slug)
        found.update(_HTML_ANCHOR.findall(line))
        previous, previous_number = ("" if heading is not None else line), number
    return found


# -- links ------------------------------------------------------------------------------------------------


def links(text: str) -> Iterator[tuple[int, str]]:
    """``(line number, target)`` of every link and image outside code: inline, reference definitions, HTML."""
    prose = _prose_only(text)
    for pattern in (_INLINE_LINK, _REFERENCE_DEFINITION, _HTML_LINK):
        for match in pattern.finditer(prose):
            yield prose.count("\n", 0, match.start("target")) + 1, match["target"]


def _prose_only(text: str) -> str:
    """``text`` with fenced blocks and code spans blanked out, every line where it was."""
    lines = text.splitlines()
    kept = dict(prose_lines(text))
    prose = "\n".join(kept.get(number, "") for number in range(1, len(lines) + 1))
    return _CODE_SPAN.sub(lambda span: "\n" * span.group(0).count("\n"), prose)


def broken_links(page: Path, root: Path = REPO) -> list[str]:
    """What is wrong with the relative links of ``page``: a missing file or folder, a missing anchor."""
    text = page.read_text(encoding="utf-8")
    problems = []
    own_anchors: set[str] | None = None
    for number, target in links(text):
        if not target or _SCHEME.match(target) or target.startswith("//"):
            continue
        where = f"{_display(page, root)}:{number}: link {target!r}"
        path_part, _, anchor = target.partition("#")
        path_part = path_part.split("?", 1)[0]
        if path_part:
            base = root if path_part.startswith("/") else page.parent  # GitHub: "/" is the repository root
            linked = (base / path_part.lstrip("/")).resolve()
            if not linked.is_relative_to(root.resolve()):
                problems.append(f"{where} leaves the repository.")
                continue
            if not linked.exists():
                problems.append(f"{where}: no such file or folder {_display(linked, root)}.")
                continue
        else:
            linked = page
        if not anchor:
            continue
        if linked.suffix.lower() != ".md" or linked.is_dir():
            if not _LINE_ANCHOR.match(anchor):
                problems.append(f"{where}: only Markdown pages have heading anchors (or #L<n> line anchors).")
            continue
        if linked == page:
            own_anchors = anchors(text) if own_anchors is None else own_anchors
            targets = own_anchors
        else:
            targets = anchors(linked.read_text(encoding="utf-8"))
        if anchor not in targets:
            problems.append(
                f"{where}: {_display(linked, root)} has no heading with the id {anchor!r} "
                f"(ids there: {', '.join(sorted(targets)) or 'none'})."
            )
    return problems


# -- include blocks ---------------------------------------------------------------------------------------


def snippet(source: Path, name: str, root: Path = REPO) -> str:
    """The lines of ``source`` between ``# [START name]`` and ``# [END name]``, dedented, no inner markers."""
    if not source.is_file():
        raise DocsError(f"{_display(source, root)} does not exist.")
    lines = source.read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines) if _is_marker(line, "START", name)]
    ends = [i for i, line in enumerate(lines) if _is_marker(line, "END", name)]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise DocsError(
            f"{_display(source, root)} needs exactly one '# [START {name}]' line followed by one "
            f"'# [END {name}]' line; found {len(starts)} START and {len(ends)} END."
        )
    body = [line for line in lines[starts[0] + 1 : ends[0]] if not MARKER.match(line)]
    code = textwrap.dedent("\n".join(body)).strip("\n")
    if not code.strip():
        raise DocsError(f"{_display(source, root)}: the block {name!r} is empty.")
    return code


def _is_marker(line: str, kind: str, name: str) -> bool:
    match = MARKER.match(line)
    return bool(match and match["kind"] == kind and match["name"] == name)


def render_includes(page: Path, root: Path = REPO) -> str:
    """The text of ``page`` with every include block filled from its source as it is now."""
    out: list[str] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    in_code = {i for start, end, _ in fenced_blocks(lines) for i in range(start, end + 1)}
    index = 0
    while index < len(lines):
        line = lines[index]
        start = None if index in in_code else INCLUDE_START.match(line.strip())
        if not start:
            stray = line.strip().startswith("<!-- include") or line.strip() == INCLUDE_END
            if stray and index not in in_code:
                raise DocsError(
                    f"{_display(page, root)}:{index + 1}: {line.strip()!r} is not a whole include block: "
                    f"write '<!-- include: <path from the repository root>#<marker name> -->', a code block, "
                    f"then '{INCLUDE_END}'."
                )
            out.append(line)
            index += 1
            continue
        end = next((j for j in range(index + 1, len(lines)) if lines[j].strip() == INCLUDE_END), None)
        if end is None:
            raise DocsError(f"{_display(page, root)}:{index + 1}: include block without '{INCLUDE_END}'.")
        source = root / start["path"]
        try:
            code = snippet(source, start["name"], root)
        except DocsError as e:
            raise DocsError(f"{_display(page, root)}:{index + 1}: {e}") from None
        fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", code)), default=0))
        out += [line, fence + FENCE_LANGUAGES.get(source.suffix, ""), code, fence, lines[end]]
        index = end + 1
    return "\n".join(out) + "\n"


def stale_includes(page: Path, root: Path = REPO) -> list[str]:
    """The problem with ``page``'s include blocks: empty when each shows its source's current code."""
    try:
        current = render_includes(page, root)
    except DocsError as e:
        return [str(e)]
    if current != page.read_text(encoding="utf-8"):
        return [f"{_display(page, root)}: an include block differs from its source; run `make docs`."]
    return []


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None, root: Path = REPO) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 on a stale block or a bad link"
    )
    args = parser.parse_args(argv)
    problems: list[str] = []
    for page in markdown_files(root):
        if args.check:
            problems += stale_includes(page, root)
        else:
            try:
                text = render_includes(page, root)
            except DocsError as e:
                problems.append(str(e))
            else:
                if text != page.read_text(encoding="utf-8"):
                    page.write_text(text, encoding="utf-8")
                    print(f"refreshed {_display(page, root)}")
        problems += broken_links(page, root)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
