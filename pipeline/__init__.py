"""Apache Beam jobs of mixcurate: IO, the tag job, stats, staging and runner options.

The only package that imports Beam; the per-document work is done by the pure `taggers` package.
"""
import logging


class _DropBeamImportNoise(logging.Filter):
    """Beam warns on import that the optional BigQuery client is absent; we never use it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("apitools not found")


logging.getLogger().addFilter(_DropBeamImportNoise())
