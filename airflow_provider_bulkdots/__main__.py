"""``python -m airflow_provider_bulkdots plan PATH``: see :mod:`.cli`."""

from __future__ import annotations

import sys

from airflow_provider_bulkdots.cli import main

if __name__ == "__main__":
    sys.exit(main())
