"""The operator's extra link and the ``ubidots://`` Asset URIs Airflow normalises through the
provider's ``asset-uris``."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from airflow.sdk import Asset

from airflow_provider_bulkdots.links.ubidots import app_url
from airflow_provider_bulkdots.sources.assets import sanitize_uri


@pytest.mark.parametrize(
    ("api", "app"),
    [
        ("https://industrial.api.ubidots.com", "https://industrial.ubidots.com/app/devices/"),
        ("https://Industrial.API.Ubidots.com/", "https://industrial.ubidots.com/app/devices/"),
        ("https://things.ubidots.com", "https://stem.ubidots.com/app/devices/"),
        ("http://127.0.0.1:8790", "http://127.0.0.1:8790/"),  # the emulator's dashboard
        ("https://ubidots.example.org/gw", "https://ubidots.example.org/"),
    ],
)
def test_the_link_opens_the_app_of_the_api_host(api: str, app: str) -> None:
    assert app_url(api) == app


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        (
            "ubidots://Industrial.API.Ubidots.com:443//site-3/",
            "ubidots://industrial.api.ubidots.com/site-3",
        ),
        ("ubidots://industrial.api.ubidots.com", "ubidots://industrial.api.ubidots.com/"),
        ("ubidots://127.0.0.1:8790/a/b", "ubidots://127.0.0.1:8790/a/b"),
    ],
)
def test_airflow_normalises_ubidots_asset_uris_through_the_provider(
    given: str, normal: str
) -> None:
    assert Asset(uri=given).uri == normal


@pytest.mark.parametrize("bad", ["ubidots:///site-3", "ubidots://host/site?device=a"])
def test_a_ubidots_uri_without_a_host_or_with_a_query_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="ubidots://"):
        sanitize_uri(urlsplit(bad))
