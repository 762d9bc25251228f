"""Keep a long-running app's memory flat: forget the answers gradio keeps for an open tab, hand freed memory back."""

import ctypes
import threading
import time
from contextlib import suppress

import gradio as gr

from patches import forget_old_streams


def keep_forgetting_streams(demo: gr.Blocks, max_age_s: float) -> None:
    """Every `max_age_s / 2` seconds, in the background and once per process: `patches.forget_old_streams`, then hand
    freed memory back to the system."""
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
