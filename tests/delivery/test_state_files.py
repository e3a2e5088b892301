"""Local pace state on a shared host and after accidents (issue 19, "Local state").

The shared-host cases run as a second Unix user created here (``useradd``, root only) and
are skipped with the reason where the machine does not allow it. Damaged values are written
as the file's JSON and read back through a pacer on a fake clock.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from airflow_provider_bulkdots.delivery.pacing.token import (
    LEGACY_STATE_DIR_ENV,
    MAX_HOLD_SECONDS,
    TokenPacer,
    WaitTooLong,
    default_state_dir,
    parse_state,
    resolve_state_dir,
)
from airflow_provider_bulkdots.delivery.state_files import UnsafeStateError
from airflow_provider_bulkdots.exceptions import ConfigurationError

RATE = 4.0
NOW = 1_800_000_000.0


class FakeClock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class OtherUser(NamedTuple):
    name: str
    uid: int
    gid: int


def _other_user_or_skip() -> OtherUser:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("a second Unix user needs root to create it (useradd)")
    if shutil.which("useradd") is None or shutil.which("userdel") is None:
        pytest.skip("useradd/userdel are not installed")
    name = f"bd19-{uuid.uuid4().hex[:8]}"
    made = subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/false", name],
                          capture_output=True, text=True)  # fmt: skip
    if made.returncode != 0:
        pytest.skip(f"useradd refused: {made.stderr.strip()}")
    import pwd

    entry = pwd.getpwnam(name)
    return OtherUser(name, entry.pw_uid, entry.pw_gid)


@pytest.fixture(scope="module")
def other_user() -> Iterator[OtherUser]:
    """A second local user, created for this module and removed after it."""
    user = _other_user_or_skip()
    yield user
    subprocess.run(["userdel", user.name], capture_output=True, check=False)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A directory like /tmp: every user may create entries in it (mode 1777)."""
    path = Path(tempfile.mkdtemp(prefix="bulkdots-shared-", dir="/tmp"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _python_for(user: OtherUser) -> str:
    """A Python interpreter ``user`` may run (this one may sit in root's home)."""
    for candidate in (sys.executable, "/usr/bin/python3"):
        try:
            tried = subprocess.run([candidate, "-c", "pass"], user=user.uid, group=user.gid,
                                   extra_groups=[], capture_output=True, check=False)  # fmt: skip
        except PermissionError:
            continue
        if tried.returncode == 0:
            return candidate
    pytest.skip(f"no Python interpreter that user {user.name} may run")


def run_as(user: OtherUser, code: str) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` as ``user`` (privileges dropped in the child), with this package
    and this environment's libraries on its path."""
    paths = [str(Path(__file__).resolve().parents[2]), sysconfig.get_path("purelib")]
    return subprocess.run(
        [_python_for(user), "-c", textwrap.dedent(code)],
        user=user.uid,
        group=user.gid,
        extra_groups=[],
        capture_output=True,
        text=True,
        cwd="/",
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.pathsep.join(paths)},
        timeout=60,
        check=False,
    )


def squat(user: OtherUser, directory: Path, victim: Path) -> None:
    """As ``user``: create ``directory`` 0777 first and plant ``k.json`` -> ``victim``."""
    done = run_as(
        user,
        f"""
        import os
        os.mkdir({str(directory)!r}, 0o777)
        os.chmod({str(directory)!r}, 0o777)
        os.symlink({str(victim)!r}, {str(directory / "k.json")!r})
        """,
    )
    assert done.returncode == 0, done.stderr
    assert directory.stat().st_uid == user.uid


# -- a directory taken over by another user ---------------------------------------------


def test_a_chosen_directory_taken_over_by_another_user_is_refused_by_name(
    other_user: OtherUser, shared_tmp: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "airflow.cfg"
    victim.write_text("[core]\n")
    taken = shared_tmp / "airflow-bulkdots-rate-0"
    squat(other_user, taken, victim)
    with pytest.raises(UnsafeStateError) as refused:
        TokenPacer(RATE, key="k", state_dir=taken, clock=FakeClock())
    assert isinstance(refused.value, ConfigurationError)
    assert str(taken) in str(refused.value)
    assert f"belongs to uid {other_user.uid}" in str(refused.value)
    assert victim.read_text() == "[core]\n", "never written through the planted symlink"


def test_the_default_directory_taken_over_falls_back_to_this_process(
    other_user: OtherUser, shared_tmp: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    victim = tmp_path / "airflow.cfg"
    victim.write_text("[core]\n")
    taken = shared_tmp / "airflow-bulkdots-rate-0"
    squat(other_user, taken, victim)
    clock = FakeClock()
    with caplog.at_level(logging.WARNING):
        pacer = TokenPacer(RATE, key="k", state_dir=taken, clock=clock, refuse_unsafe=False)
        assert pacer.try_turn() == 0
    assert pacer.try_turn() == pytest.approx(1 / (RATE * 0.97)), "still paced, in process"
    assert "Pacing in this process only" in caplog.text and str(taken) in caplog.text
    assert "belongs to uid" in caplog.text
    assert victim.read_text() == "[core]\n"


def test_a_read_only_directory_falls_back_with_a_warning(
    other_user: OtherUser, shared_tmp: Path
) -> None:
    """Root ignores file modes, so the task runs as the second user on its own 0500 dir."""
    done = run_as(
        other_user,
        f"""
        import logging, os
        from airflow_provider_bulkdots.delivery.pacing.token import TokenPacer
        logging.basicConfig(level=logging.WARNING)
        state = {str(shared_tmp / "mine")!r}
        os.mkdir(state, 0o500)
        pacer = TokenPacer(4, key="k", state_dir=state)
        assert pacer.try_turn() == 0
        assert pacer.try_turn() > 0
        print("paced", os.listdir(state))
        """,
    )
    assert done.returncode == 0, done.stderr
    assert "paced []" in done.stdout
    assert "Pacing in this process only" in done.stderr
    assert "Permission denied" in done.stderr


def test_a_state_file_of_another_user_is_refused(other_user: OtherUser, tmp_path: Path) -> None:
    state = tmp_path / "rate"
    state.mkdir(mode=0o700)
    planted = state / "k.json"
    planted.write_text("{}")
    os.chown(planted, other_user.uid, other_user.gid)
    with pytest.raises(UnsafeStateError, match=r"k\.json.*belongs to uid"):
        TokenPacer(RATE, key="k", state_dir=state)


# -- the same user's own mistakes (no second user needed) ----------------------------------


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757])
def test_a_directory_writable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    state = tmp_path / "rate"
    state.mkdir()
    state.chmod(mode)
    with pytest.raises(UnsafeStateError, match="writable by group or others") as refused:
        TokenPacer(RATE, key="k", state_dir=state)
    assert str(state) in str(refused.value)


def test_a_symlinked_directory_or_file_is_never_followed(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(UnsafeStateError, match="symlink") as refused:
        TokenPacer(RATE, key="k", state_dir=link)
    assert str(link) in str(refused.value)
    target = tmp_path / "airflow.cfg"
    target.write_text("[core]\n")
    (real / "k.json").symlink_to(target)
    with pytest.raises(UnsafeStateError, match=r"k\.json.*symlink"):
        TokenPacer(RATE, key="k", state_dir=real)
    assert target.read_text() == "[core]\n"


def test_the_state_file_is_created_0600_and_a_wider_one_made_private(tmp_path: Path) -> None:
    state = tmp_path / "rate"
    pacer = TokenPacer(RATE, key="k", state_dir=state)
    pacer.try_turn()
    assert oct(state.stat().st_mode & 0o777) == oct(0o700)
    assert oct((state / "k.json").stat().st_mode & 0o777) == oct(0o600)
    (state / "other.json").write_text("{}")
    (state / "other.json").chmod(0o644)
    TokenPacer(RATE, key="other", state_dir=state).try_turn()
    assert oct((state / "other.json").stat().st_mode & 0o777) == oct(0o600)


def test_a_lock_held_forever_costs_a_bounded_wait_and_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    pacer = TokenPacer(RATE, key="k", state_dir=tmp_path, clock=clock, lock_timeout=0.2)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys; f = open(sys.argv[1], 'r+'); fcntl.flock(f, fcntl.LOCK_EX); "
            "print('locked', flush=True); sys.stdin.read()",
            str(tmp_path / "k.json"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with caplog.at_level(logging.WARNING):
            assert pacer.try_turn() == 0  # not a hang: paced in this process from now on
        assert pacer.try_turn() == pytest.approx(1 / (RATE * 0.97))
        assert "stayed locked over 0.2 s" in caplog.text and "k.json" in caplog.text
    finally:
        holder.communicate("", timeout=30)


# -- values read back are checked and repaired ---------------------------------------------


def _pacer_on(tmp_path: Path, state: str | dict[str, object]) -> tuple[TokenPacer, FakeClock]:
    raw = state if isinstance(state, str) else json.dumps(state)
    (tmp_path / "k.json").write_text(raw)
    clock = FakeClock()
    return TokenPacer(RATE, key="k", state_dir=tmp_path, clock=clock), clock


@pytest.mark.parametrize(
    "raw",
    [
        '{"turns": 1e999}',
        '{"throttled": 1e999, "turns": -3}',
        '{"next_turn": Infinity}',
        '{"share": NaN}',
        '{"next_slot": 1e999}',
        '{"turns": true, "share": "half"}',
        '{"turns": 1e300}',
    ],
)
def test_a_value_that_is_not_a_finite_number_is_reset_with_a_warning(
    tmp_path: Path, raw: str, caplog: pytest.LogCaptureFixture
) -> None:
    pacer, _ = _pacer_on(tmp_path, raw)
    with caplog.at_level(logging.WARNING):
        assert pacer.try_turn() == 0
    assert "Repaired the shared pace state" in caplog.text and "k.json" in caplog.text
    written = json.loads((tmp_path / "k.json").read_text())
    assert written["turns"] <= 1e300 and written["share"] == 1.0


def test_a_tiny_share_is_raised_to_the_least_share(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pacer, _ = _pacer_on(tmp_path, {"share": 1e-9, "grown_at": NOW, "written_at": NOW})
    with caplog.at_level(logging.WARNING):
        pacer.try_turn()
    least = pacer.adaptation.min_share
    assert pacer.try_turn() == pytest.approx(1 / (RATE * least * 0.97))  # 5 s, not 258 s
    assert "share 1e-09 is outside" in caplog.text


@pytest.mark.parametrize("field", ["next_turn", "next_slot", "calm_until"])
def test_an_instant_further_ahead_than_any_hold_is_repaired(
    tmp_path: Path, field: str, caplog: pytest.LogCaptureFixture
) -> None:
    pacer, _ = _pacer_on(tmp_path, {field: NOW + 5 * 3600 + 59 * 60, "written_at": NOW})
    slept: list[float] = []
    with caplog.at_level(logging.WARNING):
        assert pacer.wait_turn(slept.append, defer_over=60) == 0  # no 21,540 s deferral
    assert slept == []
    assert f"{field} was 21540 s ahead" in caplog.text


def test_a_longest_hold_is_kept(tmp_path: Path) -> None:
    pacer, _ = _pacer_on(tmp_path, {"next_turn": NOW + MAX_HOLD_SECONDS, "written_at": NOW})
    with pytest.raises(WaitTooLong) as deferred:
        pacer.wait_turn(lambda s: None, defer_over=60)
    assert deferred.value.seconds == pytest.approx(MAX_HOLD_SECONDS)


def test_a_wall_clock_stepped_back_moves_the_instants_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    pacer = TokenPacer(RATE, key="k", state_dir=tmp_path, clock=clock)
    pacer.throttled(2.0)  # the next turn is 2 s ahead
    clock.now -= 1800  # NTP steps the clock back half an hour
    with caplog.at_level(logging.WARNING):
        assert pacer.try_turn() == pytest.approx(2.0, abs=1e-6)  # not 1,802 s
    assert "stepped back 1800 s" in caplog.text


def test_parse_state_names_each_problem() -> None:
    state, problems = parse_state(b'{"turns": 1e999, "share": 0.5, "next_turn": "soon"}')
    assert state.turns == 0 and state.share == 0.5 and state.next_turn == 0
    assert len(problems) == 2
    assert parse_state(b"\xff")[1] == ["it is not JSON"]
    assert parse_state(b"[1]")[1] == ["it is not a JSON object"]


# -- where the directory is configured ------------------------------------------------------


@pytest.fixture(scope="module")
def airflow_conf() -> None:
    """Airflow's configuration loaded before the test (loading it resets logging's handlers,
    pytest's capture included)."""
    from airflow_provider_bulkdots.compat import provider_option

    provider_option("bulkdots", "rate_state_dir")


@pytest.mark.usefixtures("airflow_conf")
def test_the_directory_is_an_airflow_option_and_the_old_variable_still_works(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from airflow_provider_bulkdots.hooks.bulkdots import rate_state_dir

    monkeypatch.setenv("AIRFLOW__BULKDOTS__RATE_STATE_DIR", str(tmp_path / "cfg"))
    monkeypatch.setenv(LEGACY_STATE_DIR_ENV, str(tmp_path / "legacy"))
    assert rate_state_dir() == (tmp_path / "cfg", True)
    monkeypatch.delenv("AIRFLOW__BULKDOTS__RATE_STATE_DIR")
    with caplog.at_level(logging.WARNING):
        assert rate_state_dir() == (tmp_path / "legacy", True)
    assert "deprecated" in caplog.text and "rate_state_dir" in caplog.text
    monkeypatch.delenv(LEGACY_STATE_DIR_ENV)
    assert rate_state_dir() == (default_state_dir(), False)
    assert resolve_state_dir("  ", None) == (default_state_dir(), False)


def test_the_option_is_declared_in_the_provider_config_section() -> None:
    from airflow_provider_bulkdots.get_provider_info import get_provider_info

    option = get_provider_info()["config"]["bulkdots"]["options"]["rate_state_dir"]
    assert option["type"] == "string" and option["default"] == ""
    assert "AIRFLOW" not in option["description"] or "deprecated" in option["description"]
