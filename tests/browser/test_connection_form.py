"""The bulkdots connection, made as most users make it: in the Airflow UI, in a real browser.

One `airflow api-server` for the module; the form's fields, labels, placeholders and defaults
are checked against the connection page, docs/connections/bulkdots.md (what users read), and
get_provider_info (what Airflow reads).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_provider_bulkdots.get_provider_info import get_provider_info
from tests.browser.conftest import ApiServer
from tests.conftest import EMULATOR_TOKEN

CONNECTION_PAGE = Path(__file__).resolve().parents[2] / "docs" / "connections" / "bulkdots.md"
CONN_ID = "bulkdots_ui"
# What the user types into the form; every other extra keeps the form's default.
ENTERED = {"rate_limit": 2, "timeout": 10, "max_retries": 3, "resend_lost_replies": False}


def _connection_type() -> dict[str, Any]:
    (connection_type,) = get_provider_info()["connection-types"]
    return dict(connection_type)


def _behaviour(key: str) -> Any:
    behaviour = _connection_type()["ui-field-behaviour"]
    return behaviour.get(key.replace("-", "_"), behaviour.get(key))


def _documented_defaults() -> dict[str, str]:
    """The extras table of the connection page: extra name -> default, as written there."""
    if not CONNECTION_PAGE.is_file():
        pytest.skip("no docs here: these are the tests of an installed wheel")
    rows = re.findall(r"^\| `(\w+)` \| `?([^|`]*?)`? \|", CONNECTION_PAGE.read_text(), re.MULTILINE)
    return dict(rows)


def _same(shown: str, default: Any) -> bool:
    """Whether text in the docs or the form shows this default (4 and 4.0 alike)."""
    if isinstance(default, bool):
        return shown == str(default).lower()
    if isinstance(default, int | float):
        return float(shown) == default
    return shown == str(default)


def _field(dialog: Any, name: str) -> Any:
    """The form row (label, input, helper text) holding the input called ``name``."""
    return dialog.locator("[data-scope=field][data-part=root]").filter(
        has=dialog.page.locator(f"[name='{name}']")
    )


def _open_form(page: Any, api: ApiServer) -> Any:
    page.goto(f"{api.url}/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    hook_name = _connection_type()["hook-name"]
    dialog.get_by_role("combobox").fill(hook_name)
    page.get_by_role("option", name=hook_name).click()
    return dialog


def _check_standard_fields(dialog: Any) -> None:
    relabeling, placeholders = _behaviour("relabeling"), _behaviour("placeholders")
    for name, label in relabeling.items():
        assert _field(dialog, name).locator("label").first.inner_text().strip() == label
    for name, placeholder in placeholders.items():
        assert dialog.locator(f"[name='{name}']").get_attribute("placeholder") == placeholder
    for hidden in _behaviour("hidden-fields"):
        assert dialog.locator(f"[name='{hidden}']").count() == 0, hidden


def _check_extra_fields(dialog: Any) -> None:
    documented = _documented_defaults()
    for key, field in _connection_type()["conn-fields"].items():
        default = field["schema"]["default"]
        assert _same(documented[key], default), f"docs and form disagree on {key}"
        row = _field(dialog, f"element_{key}")
        assert row.locator("label").first.inner_text().strip() == field["label"]
        assert row.locator("[data-part=helper-text]").inner_text() == field["description"]
        control = row.locator(f"[name='element_{key}']")
        if isinstance(default, bool):
            assert control.is_checked() is default, f"switch {key} should start {default}"
        else:
            assert _same(control.input_value(), default), key


def _fill_standard_fields(dialog: Any, emulator: Any) -> None:
    dialog.locator("[name='connection_id']").fill(CONN_ID)
    dialog.locator("[name='host']").fill("http://127.0.0.1")
    dialog.locator("[name='port']").fill(str(urlsplit(emulator.url).port))
    dialog.locator("[name='password']").fill(EMULATOR_TOKEN)


def _fill_extra_fields(dialog: Any) -> None:
    for key, value in ENTERED.items():
        row = _field(dialog, f"element_{key}")
        if isinstance(value, bool):
            if row.locator(f"[name='element_{key}']").is_checked() is not value:
                row.locator("[data-scope=switch][data-part=control]").click()
        else:
            row.locator(f"[name='element_{key}']").fill(str(value))


def _stored(page: Any, api: ApiServer) -> dict[str, Any]:
    reply = page.request.get(f"{api.url}/api/v2/connections/{CONN_ID}")
    assert reply.ok, reply.text()
    return dict(reply.json())


@pytest.mark.timeout(600)
def test_a_connection_made_in_the_form_is_stored_as_entered_and_tests_green(
    page: Any, api_server: ApiServer, emu: Any, screenshot_dir: Path
) -> None:
    page.set_viewport_size({"width": 1280, "height": 1600})  # the whole form on one screen
    dialog = _open_form(page, api_server)
    _check_standard_fields(dialog)
    _fill_standard_fields(dialog, emu)
    dialog.get_by_text("Extra Fields", exact=True).click()  # the accordion folds the others
    _check_extra_fields(dialog)
    _fill_extra_fields(dialog)
    dialog.screenshot(path=str(screenshot_dir / "connection-form.png"))
    dialog.get_by_role("button", name="Save").click()
    row = page.get_by_role("row").filter(has_text=CONN_ID)
    row.wait_for()
    dialog.wait_for(state="detached")  # its inputs hold the token as typed until it is gone

    stored = _stored(page, api_server)
    defaults = {k: f["schema"]["default"] for k, f in _connection_type()["conn-fields"].items()}
    assert json.loads(stored["extra"]) == {**defaults, **ENTERED}
    assert (stored["conn_type"], stored["host"], stored["port"]) == (
        "bulkdots",
        "http://127.0.0.1",
        urlsplit(emu.url).port,
    )
    assert EMULATOR_TOKEN not in page.content()

    row.get_by_role("button", name="Test Connection").click()
    toast = page.get_by_role("status").filter(has_text="Test Connection Successful")
    assert "the token is accepted" in toast.inner_text()
    toast.screenshot(path=str(screenshot_dir / "connection-test.png"), animations="disabled")


def _how_airflow_tests_an_empty_port() -> str:
    """What the API server does with the list's port 0 for an empty Port (apache/airflow#73298).

    ``"hook"``: it calls the hook with the stored connection (fixed releases). ``"bad request"``:
    3.3.2 compares through ``_same_endpoint`` (0 is not None) and answers 400 when no password
    is sent. ``"masked password"``: 3.3.1 compares with ``!=`` and, the list sending the masked
    password, tests a connection built from the request: the hook is called with ``***``."""
    from airflow.api_fastapi.core_api.routes.public import connections

    same_endpoint = getattr(connections, "_same_endpoint", None)
    if same_endpoint is None:
        return "masked password"
    return "hook" if same_endpoint(0, None) else "bad request"


@pytest.mark.timeout(600)
def test_a_port_in_the_url_with_the_port_field_empty(
    page: Any, api_server: ApiServer, emu: Any
) -> None:
    conn_id = "bulkdots_url_port"
    dialog = _open_form(page, api_server)
    dialog.locator("[name='connection_id']").fill(conn_id)
    dialog.locator("[name='host']").fill(emu.url)  # http://127.0.0.1:<port>
    dialog.locator("[name='password']").fill(EMULATOR_TOKEN)
    dialog.get_by_role("button", name="Save").click()
    row = page.get_by_role("row").filter(has_text=conn_id)
    row.wait_for()
    dialog.wait_for(state="detached")
    reply = page.request.get(f"{api_server.url}/api/v2/connections/{conn_id}")
    assert (reply.json()["host"], reply.json()["port"]) == (emu.url, None)

    row.get_by_role("button", name="Test Connection").click()
    toast = page.get_by_role("status").filter(has_text="Test Connection")
    toast.first.wait_for()
    shown = toast.first.inner_text()
    airflow_does = _how_airflow_tests_an_empty_port()
    if airflow_does == "hook":
        assert "Test Connection Successful" in shown
        assert f"Connected to {emu.url}: the token is accepted." in shown
    elif airflow_does == "bad request":  # the API server refuses before the hook is called
        assert shown.splitlines() == ["Test Connection Failed", "Bad Request"]
    else:  # the hook is reached, with the masked password: it says so in words, port and all
        assert shown.splitlines()[0] == "Test Connection Failed"
        assert f"The token is refused by {emu.url}: HTTP 401" in shown
