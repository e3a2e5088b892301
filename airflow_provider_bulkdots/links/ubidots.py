"""``UbidotsDevicesLink``: the operator's extra link to the devices in the Ubidots web app.

The app lives on another host than the API: ``industrial.api.ubidots.com`` (Ubidots
Industrial) is served at ``industrial.ubidots.com``, ``things.ubidots.com`` (STEM) at
``stem.ubidots.com``; the link opens the app's device list there (the API names devices by
label, the app's device pages by an id the task never sees). Any other host (a private
deployment, the emulator) has no known app: the link opens that host's root (the emulator's
dashboard). The link is computed where the task ran, from its connection (Airflow stores it
in the XCom ``_link_UbidotsDevicesLink`` when the task ends).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from airflow_provider_bulkdots.compat import BaseOperatorLink

#: API host -> the host of its web app.
APP_HOSTS = {
    "industrial.api.ubidots.com": "industrial.ubidots.com",
    "things.ubidots.com": "stem.ubidots.com",
}


def app_url(base_url: str) -> str:
    """Where the devices of the API at ``base_url`` are shown to a person."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    app = APP_HOSTS.get(host)
    if app is not None:
        return f"https://{app}/app/devices/"
    return f"{parts.scheme}://{parts.netloc}/"


class UbidotsDevicesLink(BaseOperatorLink):
    """Opens the devices of the task's Ubidots account in the web app (host-aware)."""

    name = "Ubidots devices"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        make_hook = getattr(operator, "make_hook", None)
        if make_hook is None:
            return ""
        return app_url(make_hook().settings.base_url)
