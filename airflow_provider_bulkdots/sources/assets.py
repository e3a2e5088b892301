"""Assets on both sides of a send: a file Asset as input, a ``ubidots://`` Asset as output.

An input Asset's URI names a file (``file://``, ``s3://``, ``gs://``, ...), read through
Airflow's ObjectStoragePath like any path. The output Asset stands for what was delivered to
Ubidots, ``ubidots://<host>/<device pattern>``, so downstream DAGs can be scheduled on it.
"""

from __future__ import annotations

from typing import Any

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


def dataset_name(uri: str) -> tuple[str, str]:
    """(namespace, name) of a URI as OpenLineage names datasets: scheme://authority, path."""
    scheme, _, rest = uri.partition("://")
    authority, _, path = rest.partition("/")
    return f"{scheme}://{authority}", "/" + path if path else "/"
