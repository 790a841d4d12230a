"""
The Markdown pages hold: every relative link and anchor resolves, every include block shows its source's
current code, every Python block compiles, and the README's quick start is a Dag that loads.

The checker is ``scripts/markdown_docs.py`` (``make docs`` refreshes the include blocks); the tests at the end
check the checker on pages made up for them.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT_PATH = REPO / "scripts" / "markdown_docs.py"


def _load_script() -> ModuleType:
    """``scripts/markdown_docs.py`` as a module (``scripts/`` is not a package)."""
    spec = importlib.util.spec_from_file_location("markdown_docs", SCRIPT_PATH)
    assert spec is not None, f"cannot load {SCRIPT_PATH}"
    assert spec.loader is not None, f"cannot load {SCRIPT_PATH}"
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


docs = _load_script()
PAGES = docs.markdown_files(REPO)
PAGE_IDS = [str(page.relative_to(REPO)) for page in PAGES]


def test_the_pages_are_found():
    found = set(PAGE_IDS)
    assert {"README.md", "CHANGELOG.md", "benchmarks/README.md", "docs/index.md"} <= found
    assert not any(page.startswith(".") for page in found), found


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_links_resolve(page: Path):
    assert docs.broken_links(page, REPO) == []


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_include_blocks_are_current(page: Path):
    assert docs.stale_includes(page, REPO) == []


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_python_blocks_compile(page: Path):
    for line, code in docs.code_blocks(page.read_text(encoding="utf-8"), "python"):
        compile(code, f"{page.relative_to(REPO)}:{line}", "exec")


def test_every_docs_page_is_linked_from_the_readme_and_the_index():
    readme = {target.split("#")[0] for _, target in docs.links((REPO / "README.md").read_text())}
    index = {target.split("#")[0] for _, target in docs.links((REPO / "docs" / "index.md").read_text())}
    for page in sorted((REPO / "docs").glob("*.md")):
        if page.name != "index.md":
            assert f"docs/{page.name}" in readme, f"README.md does not link to docs/{page.name}"
            assert page.name in index, f"docs/index.md does not link to {page.name}"


def test_readme_quick_start_is_a_dag_that_loads(tmp_path: Path):
    from airflow.dag_processing.dagbag import DagBag

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    quick_start = readme[readme.index("## Quick start") :]
    _, code = next(docs.code_blocks(quick_start, "python"))
    (tmp_path / "quick_start.py").write_text(code, encoding="utf-8")

    bag = DagBag(dag_folder=str(tmp_path))

    assert bag.import_errors == {}
    (dag,) = bag.dags.values()
    assert {t.task_id for t in dag.tasks} == {"create", "land"}
    assert dag.get_task("create").downstream_task_ids == {"land"}
    assert getattr(dag.get_task("create"), "wait_for_completion", None) is True


# -- the checker itself -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("Install", "install"),
        ("The `asana` connection", "the-asana-connection"),
        ("Operators, sensor, trigger", "operators-sensor-trigger"),
        ("`asana_organization_export_to_lake`", "asana_organization_export_to_lake"),
        ("Counts per `__type`, not _emphasis_", "counts-per-__type-not-emphasis"),
        ("From a `@task`: the hook", "from-a-task-the-hook"),
        ("**Bold**, _emphasis_ and snake_case", "bold-emphasis-and-snake_case"),
        ("A [linked](other.md#x) heading", "a-linked-heading"),
        ("C++ & Python 3.11 / 3.12", "c--python-311--312"),
        ("Déjà vu", "déjà-vu"),
    ],
)
def test_heading_slugs_follow_github(heading: str, slug: str):
    assert docs.github_slug(docs.heading_text(heading)) == slug


def test_duplicate_headings_are_numbered_and_code_is_not_a_heading():
    page = "# Security\n\n## Security\n\n```bash\n# Security\n```\n\nSecurity\n--------\n\n<a id='own'></a>\n"
    assert docs.anchors(page) == {"security", "security-1", "security-2", "own"}


def _repo(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def test_broken_links_are_reported(tmp_path: Path):
    root = _repo(
        tmp_path,
        {
            "code.py": "x = 1\n",
            "docs/a.md": "# A page\n\n## Second `part`\n",
            "docs/b.md": (
                "# B\n\n"
                "[fine](a.md#second-part) [fine too](#b) [a folder](../docs/) [a line](../code.py#L1)\n"
                "[no file](missing.md) [no heading](a.md#third-part)\n"
                "[no own heading](#c) ![no image](img.png) [anchor in code](../code.py#x)\n"
                "[outside](../../elsewhere.md) [web](https://example.com/x.md#y) `[in code](gone.md)`\n"
                "[text broken\nacross lines](gone-too.md)\n\n"
                "```markdown\n[in a block](gone.md)\n```\n\n"
                '[ref]: nowhere.md\n<img src="missing.png">\n'
            ),
        },
    )

    problems = "\n".join(docs.broken_links(root / "docs" / "b.md", root))

    for bad in (
        "missing.md",
        "a.md#third-part",
        "#c",
        "img.png",
        "code.py#x",
        "elsewhere.md",
        "gone-too.md",
        "nowhere.md",
        "missing.png",
    ):
        assert bad in problems, f"{bad} not reported:\n{problems}"
    for good in ("a.md#second-part", "'#b'", "../docs/", "code.py#L1", "example.com", "'gone.md'"):
        assert good not in problems, f"{good} wrongly reported:\n{problems}"
    assert "docs/b.md:4: link 'missing.md'" in problems
    assert "docs/b.md:8: link 'gone-too.md'" in problems
    assert len(problems.splitlines()) == 9, problems


SOURCE = """import os


def f():
    # [START block]
    x = 1
    # [START inner]
    y = 2
    # [END inner]
    # [END block]
"""
PAGE = "# P\n\n<!-- include: src.py#block -->\n<!-- end include -->\n"


def test_include_blocks_are_filled_and_stale_ones_reported(tmp_path: Path):
    root = _repo(tmp_path, {"src.py": SOURCE, "page.md": PAGE})
    page = root / "page.md"

    assert docs.stale_includes(page, root) == [
        "page.md: an include block differs from its source; run `make docs`."
    ]
    assert docs.main([], root=root) == 0
    assert page.read_text() == (
        "# P\n\n<!-- include: src.py#block -->\n```python\nx = 1\ny = 2\n```\n<!-- end include -->\n"
    )
    assert docs.main(["--check"], root=root) == 0

    (root / "src.py").write_text(SOURCE.replace("y = 2", "y = 3"))
    assert docs.main(["--check"], root=root) == 1
    assert "y = 2" in page.read_text(), "--check changed the page"
    assert docs.main([], root=root) == 0
    assert "y = 3" in page.read_text()


@pytest.mark.parametrize(
    ("source", "page", "error"),
    [
        (SOURCE, PAGE.replace("#block", "#absent"), "needs exactly one '# [START absent]'"),
        (SOURCE.replace("    # [END block]\n", ""), PAGE, "found 1 START and 0 END"),
        (SOURCE + "# [START block]\n", PAGE, "found 2 START and 1 END"),
        (SOURCE, PAGE.replace("src.py", "gone.py"), "gone.py does not exist"),
        (SOURCE, PAGE.replace("<!-- end include -->\n", ""), "include block without '<!-- end include -->'"),
        (SOURCE, PAGE.replace("<!-- include: src.py#block -->\n", ""), "is not a whole include block"),
    ],
)
def test_malformed_include_blocks_are_reported(tmp_path: Path, source: str, page: str, error: str):
    root = _repo(tmp_path, {"src.py": source, "page.md": page})

    (problem,) = docs.stale_includes(root / "page.md", root)

    assert problem.startswith("page.md:"), problem
    assert error in problem, problem
    assert docs.main([], root=root) == 1


def test_markers_in_the_example_dags_are_comments_only():
    marker = re.compile(r"\[(START|END) [\w.-]+\]")
    for path in sorted((REPO / "example_dags").glob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if marker.search(line):
                assert docs.MARKER.match(line), f"{path.name}:{number}: a marker must be a comment line alone"


def test_include_syntax_shown_in_a_code_block_is_left_alone(tmp_path: Path):
    example = "# P\n\n```markdown\n<!-- include: gone.py#x -->\n<!-- end include -->\n```\n"
    root = _repo(tmp_path, {"page.md": example})

    assert docs.stale_includes(root / "page.md", root) == []
    assert docs.render_includes(root / "page.md", root) == example
