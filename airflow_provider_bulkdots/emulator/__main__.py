"""``python -m airflow_provider_bulkdots.emulator``."""

from __future__ import annotations

import sys

from airflow_provider_bulkdots.emulator.cli import main

sys.exit(main())
