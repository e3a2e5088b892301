"""Assets on both sides of a send: a file Asset as input, a ``ubidots://`` Asset as output.

An input Asset's URI names a file (``file://``, ``s3://``, ``gs://``, ...), read through
Airflow's ObjectStoragePath like any path. The output Asset stands for what was delivered to
Ubidots, ``ubidots://<host>/<device pattern>``, so downstream DAGs can be scheduled on it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import SplitResult

UBIDOTS_SCHEME = "ubidots"


def is_asset(value: Any) -> bool:
    """Whether ``value`` is an Airflow Asset (told without importing Airflow)."""
    kind = type(value)
    return kind.__name__ == "Asset" and kind.__module__.startswith("airflow.")


def asset_path(asset: Any) -> Any:
    """The ObjectStoragePath of a file Asset."""
    from airflow_provider_bulkdots.compat import ObjectStoragePath

    uri = str(asset.uri)
    if "://" not in uri:
        raise ValueError(f"Asset {asset.name!r} has no URI of a file (got {uri!r})")
    return ObjectStoragePath(uri)


def ubidots_asset(target: Any) -> Any:
    """An Asset for the Ubidots side: given as is, or from a ``ubidots://`` URI."""
    from airflow_provider_bulkdots.compat import Asset

    if isinstance(target, Asset):
        return target
    uri = str(target)
    if not uri.startswith(f"{UBIDOTS_SCHEME}://"):
        raise ValueError(
            f"ubidots_asset must be an Asset or a 'ubidots://<host>/<devices>' URI, got {uri!r}"
        )
    return Asset(uri=uri)


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Airflow's normaliser of ``ubidots://`` Asset URIs (``asset-uris`` in the provider info).

    ``ubidots://<API host>/<devices>``: the host is required and lower-cased, port 443 is
    dropped, empty path segments go; a query is refused (devices are named in the path). So
    ``ubidots://Industrial.API.Ubidots.com:443//site-3/`` is the same Asset as
    ``ubidots://industrial.api.ubidots.com/site-3``.
    """
    if not uri.hostname:
        raise ValueError("a ubidots:// Asset URI names the API host: ubidots://<host>/<devices>")
    if uri.query:
        raise ValueError("a ubidots:// Asset URI takes no query: name the devices in its path")
    port = uri.port
    netloc = uri.hostname if port in (None, 443) else f"{uri.hostname}:{port}"
    path = "/" + "/".join(segment for segment in uri.path.split("/") if segment)
    return uri._replace(netloc=netloc, path=path, fragment="")


def dataset_name(uri: str) -> tuple[str, str]:
    """(namespace, name) of a URI as OpenLineage names datasets: scheme://authority, path."""
    scheme, _, rest = uri.partition("://")
    authority, _, path = rest.partition("/")
    return f"{scheme}://{authority}", "/" + path if path else "/"
