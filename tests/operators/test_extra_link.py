"""The operator's extra link opens the web app of its connection's API host."""

from __future__ import annotations

from airflow_provider_bulkdots.emulator import Emulator
from airflow_provider_bulkdots.get_provider_info import get_provider_info
from airflow_provider_bulkdots.links.ubidots import UbidotsDevicesLink
from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator


def test_the_operator_links_to_the_app_of_its_connection(conn: Emulator) -> None:
    operator = BulkDotsOperator(task_id="send", data=[])
    (link,) = operator.operator_extra_links
    assert isinstance(link, UbidotsDevicesLink) and link.name == "Ubidots devices"
    assert link.get_link(operator, ti_key=None) == conn.url + "/"
    assert (
        "airflow_provider_bulkdots.links.ubidots.UbidotsDevicesLink"
        in (get_provider_info()["extra-links"])
    )
