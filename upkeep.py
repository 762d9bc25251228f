"""Keep a long-running app's memory flat: gradio 6.17.3 keeps every streamed answer and event record for good."""

import ctypes
import threading
import time
from contextlib import suppress

import gradio as gr

ANALYTICS_KEPT = 1000  # gradio's per-event records kept for its analytics summary


def forget_old_streams(demo: gr.Blocks, max_age_s: float, now: float, ended_at: dict) -> None:
    """Drop gradio's in-memory copy of every answer that finished streaming over `max_age_s` ago.

    gradio 6.17.3 keeps each streamed answer's segments (`Blocks.pending_streams`) for good, and one record per event
    (`Queue.event_analytics`); `ended_at` remembers when a stream was first seen ended.
    """
    for session, runs in list(demo.pending_streams.items()):
        for run, streams in list(runs.items()):
            if all(stream.ended for stream in streams.values()):
                if now - ended_at.setdefault((session, run), now) > max_age_s:
                    runs.pop(run, None)
                    ended_at.pop((session, run), None)
        if not runs:
            demo.pending_streams.pop(session, None)
    queue = demo._queue
    if len(queue.event_analytics) > 2 * ANALYTICS_KEPT:
        for event_id in list(queue.event_analytics)[:-ANALYTICS_KEPT]:
            queue.event_analytics.pop(event_id, None)
        queue.event_count_at_last_cache = 0


def keep_forgetting_streams(demo: gr.Blocks, max_age_s: float) -> None:
    """Every `max_age_s / 2` seconds, in the background and once per process: `forget_old_streams`, then hand freed
    memory back to the system."""
    if any(thread.name == "forget-old-streams" for thread in threading.enumerate()):
        return

    def forget_forever():
        ended_at = {}
        while True:
            time.sleep(max_age_s / 2)
            forget_old_streams(demo, max_age_s, time.monotonic(), ended_at)
            give_back_freed_memory()

    threading.Thread(target=forget_forever, name="forget-old-streams", daemon=True).start()


def give_back_freed_memory() -> None:
    """Hand memory that was freed back to the system: glibc keeps what onnxruntime (Piper) and torch freed otherwise."""
    with suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
