"""Keep a long-running app's memory flat: gradio 6.17.3 keeps every streamed answer and event record for good."""

import ctypes
import threading
import time
from contextlib import suppress

import gradio as gr

ANALYTICS_KEPT = 1000  # gradio's per-event records kept for its analytics summary
UNFINISHED_KEPT_S = 600  # an unfinished answer unchanged this long was left: a slow voice pauses far less


def forget_old_streams(demo: gr.Blocks, max_age_s: float, now: float, last_change: dict) -> None:
    """Drop gradio's in-memory copy of every answer that ended over `max_age_s` ago, and of every answer left
    unfinished (the listener closed the tab, or the voice failed: gradio never ends those) once it has not changed for
    `UNFINISHED_KEPT_S` or `max_age_s`, whichever is longer.

    gradio 6.17.3 keeps each streamed answer's segments (`Blocks.pending_streams`) for good, and one record per event
    (`Queue.event_analytics`); `last_change` remembers each answer's segments and end as last seen, and since when.
    """
    for session, runs in list(demo.pending_streams.items()):
        for run, streams in list(runs.items()):
            seen = tuple((len(stream.segments), stream.ended) for stream in streams.values())
            ended = all(stream.ended for stream in streams.values())
            if last_change.get((session, run), (None,))[0] != seen:
                last_change[(session, run)] = (seen, now)
            elif now - last_change[(session, run)][1] > (max_age_s if ended else max(max_age_s, UNFINISHED_KEPT_S)):
                runs.pop(run, None)
                last_change.pop((session, run), None)
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
        last_change = {}
        while True:
            time.sleep(max_age_s / 2)
            forget_old_streams(demo, max_age_s, time.monotonic(), last_change)
            give_back_freed_memory()

    threading.Thread(target=forget_forever, name="forget-old-streams", daemon=True).start()


def give_back_freed_memory() -> None:
    """Hand memory that was freed back to the system: glibc keeps what onnxruntime (Piper) and torch freed otherwise."""
    with suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
