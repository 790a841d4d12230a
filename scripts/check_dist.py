"""
Build the release files and check what a user would install.

``python scripts/check_dist.py`` (run by ``make lint``) builds the sdist, then the wheel from that sdist (as
``python -m build`` does, so the sdist provably holds what a rebuild needs), runs ``twine check --strict``
and checks both files against ``pyproject.toml``: the wheel holds the package's modules and ``py.typed`` and
nothing else (no ``tests/``, ``benchmarks/``, ``demo/``, ``scripts/``, ``example_dags/``), the entry points
and the metadata (license, classifiers, project URLs) say what ``pyproject.toml`` says.

``--install`` (``make dist-check``) then installs the wheel into a fresh virtual environment through the
constraints file, as a user would, and checks there that Airflow finds the provider and its connection type,
that every module imports, and that the ``asana-emulator`` command runs.

Exits non-zero with one line per problem.
"""

from __future__ import annotations

import argparse
import email.parser
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from configparser import ConfigParser
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet

if sys.version_info >= (3, 11):
    import tomllib
else:  # build's own dependency on Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "airflow_provider_asana"
#: Top-level folders of the repository that must never reach a user.
NOT_SHIPPED = ("tests", "benchmarks", "demo", "scripts", "example_dags", "docs")
#: What building the wheel from the sdist needs, besides the package.
SDIST_FILES = ("pyproject.toml", "README.md", "LICENSE", "PKG-INFO")


def package_files(source: Path) -> set[str]:
    """Every file the package must ship: its modules and ``py.typed``, as paths relative to ``source``."""
    files = {path.relative_to(source).as_posix() for path in (source / PACKAGE).rglob("*.py")}
    return files | {f"{PACKAGE}/py.typed"}


def copy_source(dest: Path) -> Path:
    """
    Copy the files git would commit (tracked, or new and not ignored) to ``dest``, and return it.

    That is a clean clone's tree with the working copy's changes: setuptools would otherwise put into the
    sdist whatever a stale ``*.egg-info/SOURCES.txt`` (left by an editable install or an earlier build)
    still lists.
    """
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():  # a tracked file deleted in the working copy is not
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


def build(source: Path, out_dir: Path) -> tuple[Path, Path]:
    """Build the sdist of ``source``, then the wheel from that sdist; return their paths."""
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out_dir), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"check_dist: python -m build failed:\n{result.stdout}{result.stderr}")
    (sdist,) = out_dir.glob("*.tar.gz")
    (wheel,) = out_dir.glob("*.whl")
    return sdist, wheel


def check_wheel(wheel: Path, project: dict, source: Path) -> list[str]:
    """Compare the wheel's files, entry points and metadata with ``pyproject.toml``."""
    problems = []
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        dist_info = f"{PACKAGE}-{project['version']}.dist-info"
        shipped = {name for name in names if not name.startswith(f"{dist_info}/")}
        expected = package_files(source)
        problems += [f"wheel: {name} is missing" for name in sorted(expected - shipped)]
        problems += [f"wheel: {name} should not be shipped" for name in sorted(shipped - expected)]
        problems += [
            f"wheel: {name} comes from {name.split('/')[0]}/"
            for name in sorted(names)
            if name.split("/")[0] in NOT_SHIPPED
        ]
        if f"{dist_info}/licenses/LICENSE" not in names:
            problems.append("wheel: the LICENSE file is missing from its metadata")
        metadata = email.parser.Parser().parsestr(archive.read(f"{dist_info}/METADATA").decode())
        entry_points = ConfigParser(delimiters=("=",))
        entry_points.optionxform = str  # type: ignore[assignment,method-assign]  # keep names' case
        entry_points.read_string(archive.read(f"{dist_info}/entry_points.txt").decode())
    problems += check_metadata(metadata, project)
    problems += check_entry_points(entry_points, project, source)
    return problems


def _same_specifiers(found: str | None, declared: str) -> bool:
    """Build backends may reorder a version range; compare what it allows, not its spelling."""
    try:
        return found is not None and SpecifierSet(found) == SpecifierSet(declared)
    except InvalidSpecifier:
        return False


def check_metadata(metadata: email.message.Message, project: dict) -> list[str]:
    problems = []
    expected = {
        "Name": project["name"],
        "Version": project["version"],
        "License-Expression": project["license"],
        "Requires-Python": project["requires-python"],
    }
    for field, value in expected.items():
        if field == "Requires-Python" and _same_specifiers(metadata[field], value):
            continue
        if metadata[field] != value:
            problems.append(f"metadata: {field} is {metadata[field]!r}, pyproject.toml says {value!r}")
    classifiers = metadata.get_all("Classifier") or []
    if classifiers != project.get("classifiers", []):
        problems.append(f"metadata: classifiers {classifiers} differ from pyproject.toml's")
    for wanted in ("Framework :: Apache Airflow :: Provider", "Typing :: Typed"):
        if wanted not in classifiers:
            problems.append(f"metadata: classifier {wanted!r} is missing")
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL") or [])
    if urls != project.get("urls", {}):
        problems.append(f"metadata: project URLs {urls} differ from pyproject.toml's")
    problems += [
        f"metadata: project URL {label} is not https: {url}"
        for label, url in urls.items()
        if not url.startswith("https://")
    ]
    if not any(req.startswith("apache-airflow") for req in metadata.get_all("Requires-Dist") or []):
        problems.append("metadata: apache-airflow is not a requirement")
    if metadata["Description-Content-Type"] != "text/markdown":
        problems.append("metadata: the README is not declared as Markdown")
    return problems


def check_entry_points(entry_points: ConfigParser, project: dict, source: Path) -> list[str]:
    """The wheel's entry points are pyproject.toml's, and each names a module the wheel ships."""
    declared = {group: dict(points) for group, points in project.get("entry-points", {}).items()}
    declared["console_scripts"] = dict(project.get("scripts", {}))
    found = {group: dict(entry_points[group]) for group in entry_points.sections()}
    problems = []
    if found != declared:
        problems.append(f"entry points: the wheel has {found}, pyproject.toml declares {declared}")
    for group in ("apache_airflow_provider", "pytest11", "console_scripts"):
        if not found.get(group):
            problems.append(f"entry points: no {group} entry point")
    shipped = package_files(source)
    for points in found.values():
        for target in points.values():
            module = target.split(":")[0]
            if f"{module.replace('.', '/')}.py" not in shipped:
                problems.append(f"entry points: {target} names a module the wheel does not ship")
    return problems


def check_sdist(sdist: Path, project: dict, source: Path) -> list[str]:
    """The sdist holds what building the wheel needs, and nothing of the repository's other trees."""
    prefix = f"{PACKAGE}-{project['version']}/"
    with tarfile.open(sdist) as archive:
        names = {name.removeprefix(prefix) for name in archive.getnames()}
    problems = [
        f"sdist: {name} is missing" for name in sorted({*SDIST_FILES, *package_files(source)} - names)
    ]
    problems += [
        f"sdist: {name} should not be shipped" for name in sorted(names) if name.split("/")[0] in NOT_SHIPPED
    ]
    return problems


def install_and_smoke_test(wheel: Path, project: dict, constraints: Path, work: Path) -> list[str]:
    """Install ``wheel`` into a fresh venv through ``constraints``; check that Airflow finds the provider."""
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--constraint", str(constraints), str(wheel)],
        capture_output=True,
        text=True,
        check=False,
    )
    if pip.returncode != 0:
        return [
            f"installed wheel: pip install --constraint {constraints.name} failed:\n{pip.stdout}{pip.stderr}"
        ]
    name, version = project["name"], project["version"]
    # Run outside the repository, so that only the installed copy can be imported.
    smoke = f"""
import importlib, pkgutil, sys
import {PACKAGE}
assert "site-packages" in {PACKAGE}.__file__, {PACKAGE}.__file__
for module in pkgutil.walk_packages({PACKAGE}.__path__, "{PACKAGE}."):
    if module.name.endswith(".pytest_plugin"):
        continue  # needs pytest, which users of the plugin have
    if module.name.startswith("{PACKAGE}.tables."):
        continue  # needs the tables extra: checked below, once it is installed
    importlib.import_module(module.name)
try:
    from {PACKAGE}.tables import load_organization_export
except ModuleNotFoundError as e:
    assert "airflow-provider-asana[tables]" in str(e), str(e)
else:
    raise AssertionError("the lake tables imported without the tables extra")
from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime
manager = ProvidersManagerTaskRuntime()
provider = manager.providers["{name}"]
assert provider.version == "{version}", provider.version
hook = manager.hooks["asana"]
assert hook is not None and hook.hook_class_name == "{PACKAGE}.hooks.asana.AsanaHook", hook
print("provider", provider.version, "with connection type asana:", hook.hook_class_name)
"""
    env = {**os.environ, "AIRFLOW_HOME": str(work / "airflow-home"), "PYTHONPATH": ""}
    tables = f"""
import importlib, pkgutil
import {PACKAGE}.tables
for module in pkgutil.walk_packages({PACKAGE}.tables.__path__, "{PACKAGE}.tables."):
    importlib.import_module(module.name)
print("lake tables import with the tables extra")
"""
    extra = [
        str(python),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--constraint",
        str(constraints),
        f"{wheel}[tables]",
    ]
    checks = {
        "importing it and finding it in Airflow": [str(python), "-c", smoke],
        "asana-emulator --help": [str(venv / "bin" / "asana-emulator"), "--help"],
        "pip install with the tables extra": extra,
        "importing the lake tables with the tables extra": [str(python), "-c", tables],
    }
    problems = []
    for what, argv in checks.items():
        result = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            problems.append(f"installed wheel: {what} failed:\n{result.stdout}{result.stderr}")
        else:
            print(f"check_dist: installed wheel: {what}: {(result.stdout.splitlines() or ['ok'])[0]}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--install", action="store_true", help="also install the wheel into a fresh venv")
    parser.add_argument(
        "--constraints",
        type=Path,
        default=ROOT / f"constraints-{sys.version_info.major}.{sys.version_info.minor}.txt",
        help="the constraints file --install installs through (default: this Python's)",
    )
    args = parser.parse_args()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    with tempfile.TemporaryDirectory(prefix="check-dist-") as tmp:
        work = Path(tmp)
        source = copy_source(work / "source")
        sdist, wheel = build(source, work / "dist")
        twine = subprocess.run(
            [sys.executable, "-m", "twine", "check", "--strict", sdist, wheel],
            capture_output=True,
            text=True,
            check=False,
        )
        problems = [f"twine check:\n{twine.stdout}{twine.stderr}"] if twine.returncode else []
        problems += check_wheel(wheel, project, source) + check_sdist(sdist, project, source)
        if args.install and not problems:
            problems += install_and_smoke_test(wheel, project, args.constraints.resolve(), work)
    for problem in problems:
        print(f"check_dist: {problem}", file=sys.stderr)
    if not problems:
        print(
            f"check_dist: {sdist.name} and {wheel.name} are fine" + (", and install" if args.install else "")
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
