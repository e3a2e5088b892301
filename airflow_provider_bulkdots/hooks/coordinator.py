"""The rate coordinator of a token: a Redis named by an Airflow connection of type ``redis``.

The connection is the one ``apache-airflow-providers-redis`` defines (host, port, login,
password; extras ``db``, ``ssl``, ``ssl_ca_certs``). The client is built here rather than by
``RedisHook`` because every call must be bounded: a coordinator that answers slowly is one
the machine stops waiting for (:data:`~..delivery.pacing.coordinator.COORDINATOR_TIMEOUT`).
"""

from __future__ import annotations

from typing import Any

from airflow_provider_bulkdots.compat import BaseHook
from airflow_provider_bulkdots.delivery.pacing.coordinator import (
    COORDINATOR_TIMEOUT,
    CoordinatedPacer,
    SharedLimits,
)
from airflow_provider_bulkdots.delivery.pacing.limiter import Pacer
from airflow_provider_bulkdots.delivery.settings import DeliverySettings
from airflow_provider_bulkdots.exceptions import ConfigurationError

_TRUE = {"1", "true", "yes", "on"}


def redis_client(conn_id: str, timeout: float = COORDINATOR_TIMEOUT) -> Any:
    """A ``redis.Redis`` for the connection ``conn_id``, every call bounded by ``timeout``."""
    try:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError:
        raise ConfigurationError(
            "rate_coordinator_conn_id needs the Redis client: "
            "pip install 'airflow-provider-bulkdots[redis]'",
            setting="rate_coordinator_conn_id",
        ) from None
    conn = BaseHook.get_connection(conn_id)
    extra = conn.extra_dejson
    ssl = str(extra.get("ssl", "")).strip().lower() in _TRUE
    options: dict[str, Any] = {}
    if ssl and extra.get("ssl_ca_certs"):
        options["ssl_ca_certs"] = extra["ssl_ca_certs"]
    return redis.Redis(
        host=conn.host or "localhost",
        port=int(conn.port or 6379),
        username=conn.login or None,
        password=conn.password or None,
        db=int(extra.get("db", 0) or 0),
        ssl=ssl,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1),  # one reconnection (a restarted server), then fall back
        **options,
    )


def coordinated_pacer(settings: DeliverySettings, key: str, local: Pacer, log: Any) -> Pacer:
    """The token's pace on the coordinator the settings name, else ``local`` itself."""
    if not settings.rate_coordinator_conn_id:
        return local
    return CoordinatedPacer(
        redis_client(settings.rate_coordinator_conn_id),
        key=key,
        limits=SharedLimits(settings.requests_per_second, settings.dots_per_hour),
        local=local,
        priority=settings.priority,
        logger=log,
    )
