"""Declared support = tested support.

Builds the wheel and the sdist, then for the lowest and the newest patch of every Airflow minor
that pyproject.toml's `apache-airflow` bound admits, and for every Python of `requires-python`
found on this machine (uv, then pyenv), installs the wheel with that Airflow into a fresh
virtual environment and runs the sdist's test suite there (against the installed wheel, not
the source tree).

Airflow is installed the way its docs say, with the dependency versions of its release (its
constraints file). Constraint files are not reachable from here, so the script resolves with
`uv --exclude-newer` at the release's build date plus a week (the date the release's own
wheel carries): without it, Airflow 3.2.x itself broke on a newer pydantic.

Prints a table and, as its last line, JSON {"airflow:3.x.y/python:3.z": "pass"|"fail", ...}.
Exit status 1 if any combination fails.

With --write-docs, the table goes into docs/installation.md ("Compatibility") between its
markers, headed by the date of the run and the commit it ran on.

    scripts/compat [--workers 2] [--airflow 3.3.0 ...] [--python 3.11 ...] [--write-docs]
                   [--lowest] [--select tests/some_test.py ...] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import tomllib
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
UV = os.environ.get("UV") or str(ROOT / ".tools" / "bin" / "uv")
DOCS_PAGE = ROOT / "docs" / "installation.md"
TABLE_BEGIN = "<!-- compat:begin (scripts/compat --write-docs) -->"
TABLE_END = "<!-- compat:end -->"
INSTALL_TIMEOUT = 1200
TEST_TIMEOUT = 1800
SUMMARY = re.compile(r"^=*\s*(?P<line>(\d+ \w+(, )?)+) in [\d.]+s", re.MULTILINE)


@dataclass(frozen=True)
class Job:
    airflow: str
    python: str  # "3.12"
    interpreter: str  # path
    dependencies_as_of: str  # YYYY-MM-DD

    @property
    def key(self) -> str:
        return f"airflow:{self.airflow}/python:{self.python}"


@dataclass(frozen=True)
class Result:
    job: Job
    passed: bool
    summary: str
    seconds: float
    log: Path


def _run(command: list[str], timeout: float, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def airflow_specifier() -> SpecifierSet:
    """The `apache-airflow` bound declared in pyproject.toml."""
    for requirement in _pyproject()["project"]["dependencies"]:
        match = re.fullmatch(r"apache-airflow\s*([<>=!~].*)", requirement)
        if match:
            return SpecifierSet(match.group(1))
    raise SystemExit("pyproject.toml declares no apache-airflow bound")


def _pip() -> list[str]:
    tools_python = ROOT / ".tools" / "bin" / "python"
    return [str(tools_python if tools_python.exists() else sys.executable), "-m", "pip"]


def released_airflow_versions() -> list[Version]:
    """Every apache-airflow release on the package index, through pip."""
    listed = _run([*_pip(), "index", "versions", "apache-airflow"], timeout=120)
    match = re.search(r"Available versions: (.+)", listed.stdout)
    if not match:
        raise SystemExit(f"cannot list apache-airflow releases:\n{listed.stderr}")
    return [Version(v) for v in match.group(1).split(", ") if re.fullmatch(r"[\d.]+", v)]


def lowest_and_newest_patches(versions: Iterable[Version], bound: SpecifierSet) -> list[str]:
    """For each minor the bound admits: its lowest and its newest released patch."""
    minors: dict[tuple[int, int], list[Version]] = {}
    for version in versions:
        if bound.contains(version):
            minors.setdefault((version.major, version.minor), []).append(version)
    chosen = set()
    for patches in minors.values():
        chosen.update({min(patches), max(patches)})
    return [str(v) for v in sorted(chosen)]


@functools.cache
def dependencies_date(airflow: str) -> str:
    """A week after the build date of apache-airflow==airflow (its wheel's file dates, fixed
    by Airflow's reproducible builds): the day its constraints were about."""
    with tempfile.TemporaryDirectory() as folder:
        command = [*_pip(), "download", "-q", "--no-deps", "-d", folder]
        fetched = _run([*command, f"apache-airflow=={airflow}"], timeout=300)
        wheels = list(Path(folder).glob("*.whl"))
        if not wheels:
            raise SystemExit(f"cannot download apache-airflow=={airflow}:\n{fetched.stderr}")
        with zipfile.ZipFile(wheels[0]) as archive:
            built = max(dt.date(*entry.date_time[:3]) for entry in archive.infolist())
    return (built + dt.timedelta(days=7)).isoformat()


def _pyenv_interpreter(minor: str) -> str | None:
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = sorted(
        root.glob(f"{minor}.*/bin/python{minor}"),
        key=lambda p: (
            Version(p.parts[-3]) if re.fullmatch(r"[\d.]+", p.parts[-3]) else Version("0")
        ),
    )
    return str(found[-1]) if found else None


def find_python(minor: str) -> str | None:
    """An interpreter of this minor on the machine: `uv python find`, then pyenv's versions."""
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    found = _run([UV, "python", "find", "--system", minor], timeout=60, env=env)
    if found.returncode == 0 and found.stdout.strip():
        return found.stdout.strip()
    return _pyenv_interpreter(minor)


def supported_pythons(only: list[str] | None = None) -> list[tuple[str, str]]:
    """(minor, interpreter) for each Python minor of requires-python found here."""
    requires = SpecifierSet(str(_pyproject()["project"]["requires-python"]))
    pythons = []
    for minor in range(8, 16):
        version = f"3.{minor}"
        if requires.contains(f"{version}.0") and (not only or version in only):
            interpreter = find_python(version)
            if interpreter:
                pythons.append((version, interpreter))
            else:
                print(f"Python {version}: not found on this machine, not tested", flush=True)
    return pythons


def build(work: Path) -> tuple[Path, Path]:
    """`uv build` into work/dist: (wheel, sdist)."""
    dist = work / "dist"
    built = _run([UV, "build", "--quiet", "--out-dir", str(dist), str(ROOT)], timeout=600)
    if built.returncode:
        raise SystemExit(f"uv build failed:\n{built.stderr}")
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    return wheel, sdist


def unpack_tests(sdist: Path, work: Path) -> Path:
    """The sdist's tests, example DAGs and pytest settings, without the package itself, so
    the suite imports the installed wheel."""
    target = work / "sdist"
    with tarfile.open(sdist) as archive:
        archive.extractall(target, filter="data")
    (tree,) = target.iterdir()
    shutil.rmtree(tree / "airflow_provider_bulkdots")
    return tree


def _environment(venv: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VIRTUAL_ENV"))}
    return {
        **keep,
        "PATH": f"{venv / 'bin'}{os.pathsep}{keep.get('PATH', '')}",
        "VIRTUAL_ENV": str(venv),
        "CI": "1",  # hypothesis replays its fixed examples
        "UV_PYTHON_DOWNLOADS": "never",
    }


def _install(job: Job, venv: Path, wheel: Path, log: Path) -> bool:
    env = _environment(venv)
    steps = [
        [UV, "venv", "--quiet", "--python", job.interpreter, str(venv)],
        [
            UV,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            f"{wheel}[{','.join(_pyproject()['project']['optional-dependencies'])}]",
            f"apache-airflow=={job.airflow}",
            "--exclude-newer",
            job.dependencies_as_of,
        ],
    ]
    with log.open("a") as out:
        for step in steps:
            done = _run(step, timeout=INSTALL_TIMEOUT, env=env)
            out.write(f"$ {' '.join(step)}\n{done.stdout}{done.stderr}\n")
            if done.returncode:
                return False
    return True


def _imports_the_wheel(venv: Path, cwd: Path, log: Path) -> bool:
    probe = "import airflow_provider_bulkdots as p, airflow; print(p.__file__, airflow.__version__)"
    done = _run([str(venv / "bin" / "python"), "-c", probe], 120, cwd=cwd, env=_environment(venv))
    with log.open("a") as out:
        out.write(f"$ python -c {probe!r}\n{done.stdout}{done.stderr}\n")
    return done.returncode == 0 and done.stdout.startswith(str(venv))


def run_job(job: Job, wheel: Path, tests: Path, work: Path, select: tuple[str, ...] = ()) -> Result:
    """Fresh venv, the wheel with this Airflow, then the test suite in a copy of the tests."""
    started = time.monotonic()
    name = f"airflow-{job.airflow}-python-{job.python}"
    venv, cwd, log = work / "envs" / name, work / "runs" / name, work / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(tests, cwd)
    if not _install(job, venv, wheel, log):
        return Result(job, False, "install failed", time.monotonic() - started, log)
    if not _imports_the_wheel(venv, cwd, log):
        return Result(job, False, "wheel not imported", time.monotonic() - started, log)
    pytest = [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", *select]
    try:
        done = _run(pytest, TEST_TIMEOUT, cwd=cwd, env=_environment(venv))
    except subprocess.TimeoutExpired:
        return Result(job, False, "timed out", time.monotonic() - started, log)
    with log.open("a") as out:
        out.write(f"$ {' '.join(pytest)}\n{done.stdout}{done.stderr}\n")
    summaries = SUMMARY.findall(done.stdout)
    summary = summaries[-1][0] if summaries else f"pytest exit {done.returncode}"
    shutil.rmtree(venv, ignore_errors=True)
    return Result(job, done.returncode == 0, summary, time.monotonic() - started, log)


def _failures(log: Path, limit: int = 30) -> str:
    """The failed tests of a log (pytest's short summary), or its last lines."""
    lines = log.read_text(errors="replace").splitlines()
    failed = [line for line in lines if line.startswith(("FAILED ", "ERROR "))]
    return "\n".join(failed[:limit] or lines[-limit:])


def table(results: list[Result]) -> str:
    """A Markdown table, one row per Airflow version and Python."""
    lines = [
        "| Airflow | Python | dependencies as of | result | tests | minutes |",
        "|---|---|---|---|---|---|",
    ]
    for r in sorted(results, key=lambda r: (Version(r.job.airflow), Version(r.job.python))):
        verdict = "pass" if r.passed else "**fail**"
        cells = [r.job.airflow, r.job.python, r.job.dependencies_as_of, verdict, r.summary]
        lines.append(f"| {' | '.join(cells)} | {r.seconds / 60:.1f} |")
    return "\n".join(lines)


def _git(*args: str) -> str:
    """What git prints for ``args`` in this checkout; "" outside one or without git."""
    try:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def run_label() -> str:
    """When and on what the table was made: today's date (UTC) and the commit checked out."""
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    head = _git("rev-parse", "--short", "HEAD")
    if not head:
        return f"Run on {today}, outside a git checkout:"
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return f"Run on {today}, at commit `{head}`" + (" with local changes:" if dirty else ":")


def write_docs(markdown: str) -> None:
    """Put the table, dated, between the markers of the Compatibility section."""
    text = DOCS_PAGE.read_text()
    start, end = text.index(TABLE_BEGIN) + len(TABLE_BEGIN), text.index(TABLE_END)
    block = f"\n{run_label()}\n\n{markdown}\n"
    DOCS_PAGE.write_text(text[:start] + block + text[end:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--airflow", nargs="*", help="versions (default: from the bound)")
    parser.add_argument("--python", nargs="*", help="minors (default: requires-python)")
    parser.add_argument(
        "--lowest",
        action="store_true",
        help="only the lowest supported Airflow, on this Python (what CI runs beside the lock)",
    )
    parser.add_argument(
        "--write-docs",
        "--write-readme",
        dest="write_docs",
        action="store_true",
        help="put the table, dated, in docs/installation.md",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument(
        "--select", nargs="*", default=[], help="only these test paths or node ids (default: all)"
    )
    parser.add_argument(
        "--report", type=Path, help="only report the combinations a run in this folder finished"
    )
    args = parser.parse_args()
    if args.report:
        return report(load_results(args.report), args.write_docs)

    bound = airflow_specifier()
    if args.lowest:
        (lowest,) = [s.version for s in bound if s.operator == ">="]
        args.airflow, args.python = [lowest], [f"{sys.version_info[0]}.{sys.version_info[1]}"]
    airflows = args.airflow or lowest_and_newest_patches(released_airflow_versions(), bound)
    pythons = supported_pythons(args.python)
    print(f"apache-airflow{bound}: {', '.join(airflows)}", flush=True)
    print("Python: " + ", ".join(f"{m} ({p})" for m, p in pythons), flush=True)

    work = Path(tempfile.mkdtemp(prefix="bulkdots-compat-"))
    # Readable by other users: the tests of local state files run code as a second user,
    # which imports the wheel from this folder's environment (nothing secret lives here).
    work.chmod(0o755)
    wheel, sdist = build(work)
    tests = unpack_tests(sdist, work)
    jobs = [Job(a, m, p, dependencies_date(a)) for a in airflows for m, p in pythons]
    jobs.sort(key=lambda job: job.airflow not in (airflows[0], airflows[-1]))  # ends first
    print(f"work folder: {work}", flush=True)
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        select = tuple(args.select)
        futures = [pool.submit(run_job, job, wheel, tests, work, select) for job in jobs]
        results = [_record(future.result(), work) for future in futures]
    status = report(results, args.write_docs)
    if not args.keep and status == 0:
        shutil.rmtree(work, ignore_errors=True)
    return status


def _record(result: Result, work: Path) -> Result:
    """Print one finished combination and append it to work/results.jsonl."""
    verdict = "pass" if result.passed else f"FAIL (log: {result.log})"
    print(f"{result.job.key}: {verdict}, {result.summary}", flush=True)
    if not result.passed:
        print(_failures(result.log), flush=True)
    line = {**asdict(result), "job": asdict(result.job), "log": str(result.log)}
    with (work / "results.jsonl").open("a") as out:
        out.write(json.dumps(line) + "\n")
    return result


def load_results(work: Path) -> list[Result]:
    results = []
    for line in (work / "results.jsonl").read_text().splitlines():
        data = json.loads(line)
        data["job"], data["log"] = Job(**data["job"]), Path(data["log"])
        results.append(Result(**data))
    return results


def report(results: list[Result], docs: bool) -> int:
    """The table, the docs page (if asked) and, last, the JSON line; 0 if all passed."""
    markdown = table(results)
    print(markdown)
    if docs:
        write_docs(markdown)
    print(json.dumps({r.job.key: "pass" if r.passed else "fail" for r in results}))
    return 0 if results and all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
