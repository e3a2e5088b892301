"""What the operator's parts (:mod:`.planned`, :mod:`.replacing`) use of the operator.

:class:`~.bulkdots.BulkDotsOperator` provides it; the parts depend on this protocol, not on
the module of the operator that calls them (no import circle).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from airflow_provider_bulkdots.compat import Context
    from airflow_provider_bulkdots.dots import ReshapeOptions
    from airflow_provider_bulkdots.hooks.bulkdots import BulkDotsHook
    from airflow_provider_bulkdots.sources import Dataset
    from airflow_provider_bulkdots.stores.watermarks import NoWatermarks, Watermarks


class LoadingOperator(Protocol):
    """The arguments and building blocks of a load, as its parts see them."""

    incremental: bool
    lag: Any
    replace: bool
    skip_existing: bool
    shared_by: int
    reconcile_timeout: float

    @property
    def log(self) -> Any:
        """The task's logger."""

    def make_hook(self) -> BulkDotsHook:
        """The hook, with this task's overrides of the connection's limits."""

    def reshape_options(self) -> ReshapeOptions:
        """The core's options from the operator's (rendered) arguments."""

    def open_input(self, options: ReshapeOptions) -> Dataset:
        """``data`` as a dataset."""

    def watermarks(self, context: Context, options: ReshapeOptions) -> Watermarks | NoWatermarks:
        """With ``incremental``, the watermarks kept with the Ubidots asset."""
