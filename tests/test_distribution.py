"""What `uv build` makes is what a package index should get: metadata that passes `twine check`,
a wheel holding only the package, an sdist holding the tests and the example DAGs with their
data. Runs in a source tree (skipped beside an installed wheel, as in scripts/compat)."""

from __future__ import annotations

import email
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest

from airflow_provider_bulkdots import __version__

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "airflow_provider_bulkdots"
SUPPORTED_PYTHONS = ("3.10", "3.11", "3.12", "3.13")


def _uv() -> str | None:
    for candidate in (os.environ.get("UV"), str(ROOT / ".tools" / "bin" / "uv"), "uv"):
        if candidate and shutil.which(candidate):
            return candidate
    return None


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    if not (ROOT / PACKAGE).is_dir():
        pytest.skip("no source tree here: these are the tests of an installed wheel")
    uv = _uv()
    if uv is None:
        pytest.skip("uv is not installed (scripts/bootstrap installs it into .tools/)")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [uv, "build", "--quiet", "--out-dir", str(out), str(ROOT)], check=True, timeout=300
    )
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    yield {"wheel": wheel, "sdist": sdist}


def _wheel_metadata(wheel: Path) -> Message:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return email.message_from_bytes(archive.read(name))


def _source_files(folder: str) -> set[str]:
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def test_twine_check_passes(dist: dict[str, Path]) -> None:
    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.values())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("PASSED") == 2


def test_the_wheel_holds_only_the_package(dist: dict[str, Path]) -> None:
    with zipfile.ZipFile(dist["wheel"]) as archive:
        names = archive.namelist()
        entry_points = archive.read(
            next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        ).decode()
    dist_info = f"airflow_provider_bulkdots-{__version__}.dist-info/"
    strays = [n for n in names if not n.startswith((f"{PACKAGE}/", dist_info))]
    assert strays == []
    assert f"{PACKAGE}/py.typed" in names
    assert f"{dist_info}licenses/LICENSE" in names
    packaged = {n for n in names if n.startswith(f"{PACKAGE}/")}
    assert packaged == _source_files(PACKAGE)
    assert "[apache_airflow_provider]" in entry_points
    assert "pytest11" not in entry_points  # the emulator's fixtures are opt-in


def test_the_sdist_holds_tests_and_example_dags_with_their_data(dist: dict[str, Path]) -> None:
    with tarfile.open(dist["sdist"]) as archive:
        prefix = f"airflow_provider_bulkdots-{__version__}/"
        names = {m.name.removeprefix(prefix) for m in archive.getmembers() if m.isfile()}
    for folder in ("tests", "example_dags", PACKAGE):
        assert _source_files(folder) <= names, folder
    assert any(n.startswith("example_dags/data/") for n in names)
    assert {"LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml"} <= names
    assert not [n for n in names if n.startswith((".venv/", ".tools/", ".git/"))]


def test_the_metadata_declares_what_is_tested(dist: dict[str, Path]) -> None:
    meta = _wheel_metadata(dist["wheel"])
    assert meta["Version"] == __version__
    assert meta["License-Expression"] == "Apache-2.0"
    requirements = meta.get_all("Requires-Dist") or []
    (airflow,) = [r for r in requirements if re.match(r"apache-airflow[<>=!~ ]", r)]
    assert sorted(airflow.removeprefix("apache-airflow").split(",")) == ["<3.4", ">=3.3.1"]
    classifiers = set(meta.get_all("Classifier") or [])
    assert {f"Programming Language :: Python :: {v}" for v in SUPPORTED_PYTHONS} <= classifiers
    assert "Framework :: Apache Airflow :: Provider" in classifiers
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    assert {"Homepage", "Source", "Changelog", "Bug Tracker"} <= set(urls)
    assert meta["Requires-Python"] == ">=3.10"


def test_the_version_is_written_once() -> None:
    if not (ROOT / PACKAGE).is_dir():
        pytest.skip("no source tree here: these are the tests of an installed wheel")
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r"^version\s*=", pyproject, re.MULTILINE) is None
    assert 'dynamic = ["version"]' in pyproject
    assert re.findall(r'^__version__ = "(.+)"$', (ROOT / PACKAGE / "__init__.py").read_text(), re.M)


def test_readme_links_work_on_a_package_index() -> None:
    """PyPI shows the README without the repository: every link and image is absolute."""
    readme = ROOT / "README.md"
    if not readme.is_file():
        pytest.skip("no README here: these are the tests of an installed wheel")
    targets = re.findall(r"\]\(([^)\s]+)", readme.read_text())
    relative = [t for t in targets if not t.startswith(("https://", "http://", "#"))]
    assert relative == []
