"""Command-line options shared by the Beam jobs: our own flags, strict, plus Beam's pipeline
options passed through verbatim (a later `--runner` wins). Unknown flags are a clear error before
the pipeline starts, never silently dropped as Beam itself would do.

The local default is Beam's FnApiRunner in multi-processing mode on all cores, named explicitly:
Beam 2.77's plain DirectRunner first tries to download the Prism binary. Parsing also turns off
the local runner's timed data-plane flushes, which race with its writes and drop rows
(`pipeline.runner_fix`). The parsed options also configure the driver's own FileSystems calls
(listing INPUT, staging OUTPUT), and `dry_run` tells a job to build and validate its graph on
DataflowRunner without running it.
"""
from __future__ import annotations

import argparse

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import (DirectOptions, PipelineOptions,
                                                  StandardOptions, TestOptions)

from pipeline.runner_fix import disable_timed_flushes

LOCAL_DEFAULT_ARGS = ["--runner=FnApiRunner", "--direct_running_mode=multi_processing",
                      "--direct_num_workers=0", "--default_sdk_harness_log_level=WARNING"]


# Measured with apache-beam 2.77 on the tag job (sample corpus, 2 workers): with the runner's timed
# flush on, threads corrupted the shuffled streams twice ("Invalid PaneInfoEncoding") and, on
# 2026-12-07, lost a row before the dedup join; with it off (pipeline.runner_fix) the job wrote the
# same rows as multi_processing, in 108 s of wall time against 72 and 132 CPU-s against 122. One
# clean run is not enough to lift the refusal for a mode that is slower anyway.
MULTI_THREADING = ("--direct_running_mode=multi_threading with more than one worker corrupts shuffled data "
                   "in Beam's local runner (the job fails decoding its own streams or loses rows); use "
                   "multi_processing (the default), or in_memory with --direct_num_workers=1 for the least "
                   "CPU per document")


class UsageError(ValueError):
    """A bad command line or option value; reported before any work starts."""


def _beam_parser():
    # Beam's own parser class: some option classes call its add_value_provider_argument.
    from apache_beam.options.pipeline_options import _BeamArgumentParser
    parser = _BeamArgumentParser(allow_abbrev=False)
    seen = {}
    for cls in PipelineOptions.__subclasses__():
        seen.setdefault(str(cls), cls)
    for cls in seen.values():
        cls._add_argparse_args(parser)  # pylint: disable=protected-access
    return parser


def beam_options(beam_args: list[str], runner: str | None) -> PipelineOptions:
    """PipelineOptions from RUNNER and BEAM_ARGS; raises UsageError on a flag Beam does not know."""
    flags = list(LOCAL_DEFAULT_ARGS)
    if runner:
        flags.append(f"--runner={runner}")
    flags += [a for a in beam_args if a != "--"]
    _, unknown = _beam_parser().parse_known_args(flags)
    if unknown:
        raise UsageError(f"unknown option(s): {' '.join(unknown)} "
                         "(neither a mixcurate flag nor a Beam pipeline option)")
    options = PipelineOptions(flags)
    disable_timed_flushes()  # the local runner's flush race drops rows (pipeline.runner_fix)
    chosen = options.view_as(StandardOptions).runner or ""
    direct = options.view_as(DirectOptions)
    if chosen.split(".")[-1] not in ("FnApiRunner", "DirectRunner", "SwitchingDirectRunner"):
        # Remote runners: the direct-runner settings do not apply.
        direct.direct_num_workers = 1
    elif direct.direct_running_mode == "multi_threading" and direct.direct_num_workers != 1:
        raise UsageError(MULTI_THREADING)
    # The driver lists INPUT and writes OUTPUT's staging, _SUCCESS and stats.json itself, before
    # and after the pipeline: those calls must see the same file-system options (--s3_region_name,
    # --s3_endpoint_url, credentials, GCP project) as the pipeline's workers.
    FileSystems.set_options(options)
    return options


def dry_run(options: PipelineOptions) -> bool:
    """`--dry_run`: build and validate the job graph without running it. Only DataflowRunner honours
    Beam's flag (it translates the graph and returns without submitting); any other runner would
    run the job for real, so that combination is a UsageError."""
    if not options.view_as(TestOptions).dry_run:
        return False
    if runner_name(options) not in ("DataflowRunner", "TestDataflowRunner"):
        raise UsageError(f"--dry_run is honoured by DataflowRunner only, not {runner_name(options)}")
    return True


def runner_name(options: PipelineOptions) -> str:
    return (options.view_as(StandardOptions).runner or "").split(".")[-1]


def worker_count(options: PipelineOptions) -> int:
    import os
    n = options.view_as(DirectOptions).direct_num_workers
    return n if n else (os.cpu_count() or 1)


class StrictParser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting, so callers print one clear line."""

    def error(self, message):
        raise UsageError(message)
