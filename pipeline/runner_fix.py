"""A work-around for a data race in Beam's local FnApiRunner that silently drops elements.

The runner sends each stage's input to an SDK worker through a data-plane output stream. It
builds that stream with a time limit (`worker_handlers.DATA_BUFFER_TIME_LIMIT_MS`, 1,000 ms in
apache-beam 2.73 to 2.78), which makes it a `TimeBasedBufferingClosableOutputStream`: a background
thread flushes it every second (copy the buffer, hand the copy to the gRPC send queue, clear the
buffer) while the runner's own thread keeps writing the input's chunks into it without a lock.
A chunk written between the flush's copy and its clear is cleared unsent: its elements never reach
the worker, and nothing reports it. The window is open while the send queue blocks (2.74 and
newer bound it to 100 MB) or Python switches threads in the callback, so it hits inputs of many
chunks that take seconds to write: on the sample x 4 (324,212 documents, 900 MB of text) the tag
job lost 12,429 rows in one run (and 67,679 rows came without the cluster label each should have
had), a few rows in others, with apache-beam 2.73 and 2.77 alike. With a time limit of 0 the stream
only flushes when the runner closes it, from the runner's own thread, so nothing races. Each
worker's input then leaves as one message (already the case for the input of every GroupByKey),
which gRPC caps at 2 GB: a stage input above that on one worker fails loudly ("exceeds GRPC limit")
instead of shrinking.

The in-process SDK workers of `--direct_running_mode=multi_threading` write their outputs into the
same kind of stream (their handler reads the same constant): on the sample that mode lost a row
with the timed flush on and wrote the same rows as multi_processing with it off, but more slowly;
`pipeline.options` still refuses it with more than one worker.
"""
from __future__ import annotations


def disable_timed_flushes() -> None:
    """Makes the local runner flush its data-plane streams only when it closes them (see module)."""
    from apache_beam.runners.portability.fn_api_runner import worker_handlers
    worker_handlers.DATA_BUFFER_TIME_LIMIT_MS = 0


def timed_flushes_disabled() -> bool:
    from apache_beam.runners.portability.fn_api_runner import worker_handlers
    return worker_handlers.DATA_BUFFER_TIME_LIMIT_MS == 0
