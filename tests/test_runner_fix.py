"""The local runner's data-plane streams: why the timed flush is turned off, and that our jobs do.

The stream below is the one Beam's FnApiRunner writes a stage's input into (pipeline.runner_fix).
The slow flush callback stands in for a send queue that is full: the flush has copied the buffer
and waits, the runner's thread goes on writing, and the flush then clears what it never sent.
"""
import threading
import time

from apache_beam.runners.portability.fn_api_runner import worker_handlers
from apache_beam.runners.worker import data_plane

from pipeline.options import beam_options
from pipeline.runner_fix import timed_flushes_disabled

CHUNKS = [f"chunk {i:04d};".encode() for i in range(300)]


def _send_through(stream_factory):
    """Writes CHUNKS as the runner does (one thread, no lock, a little work between chunks) into
    a stream whose flushes are slow; returns the bytes that left through flush or close."""
    sent = []
    lock = threading.Lock()

    def slow_flush(data):
        time.sleep(0.02)
        with lock:
            sent.append(data)

    def close(data):
        with lock:
            sent.append(data)

    stream = stream_factory(close, slow_flush)
    for chunk in CHUNKS:
        stream.write(chunk)
        time.sleep(0.001)
    stream.close()
    return b"".join(sent)


def test_beams_timed_stream_drops_chunks_written_during_a_flush():
    # The reason for the work-around: if this starts to fail, Beam has fixed its stream.
    got = _send_through(lambda close, flush: data_plane.ClosableOutputStream.create(close, flush, 5))
    assert len(got) < len(b"".join(CHUNKS))
    assert set(got.split(b";")) < set(b"".join(CHUNKS).split(b";"))


def test_without_the_time_limit_every_chunk_leaves_once_and_in_order():
    got = _send_through(lambda close, flush: data_plane.ClosableOutputStream.create(close, flush, 0))
    assert got == b"".join(CHUNKS)


def test_parsing_the_jobs_options_turns_the_runners_timed_flush_off():
    saved = worker_handlers.DATA_BUFFER_TIME_LIMIT_MS
    try:
        worker_handlers.DATA_BUFFER_TIME_LIMIT_MS = 1000
        assert not timed_flushes_disabled()
        beam_options([], None)
        assert timed_flushes_disabled()
        # the runner's data servicer builds its streams from the constant at run time
        servicer = data_plane.BeamFnDataServicer(worker_handlers.DATA_BUFFER_TIME_LIMIT_MS)
        stream = servicer.get_conn_by_worker_id("worker_1").output_stream("bundle_1", "read")
        assert not isinstance(stream, data_plane.TimeBasedBufferingClosableOutputStream)
    finally:
        worker_handlers.DATA_BUFFER_TIME_LIMIT_MS = saved

