"""Apache Beam jobs of mixcurate: IO, the tag job, stats, staging and runner options.

The only package that imports Beam; the per-document work is done by the pure `taggers` package.
"""
