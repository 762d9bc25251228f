"""Every patch of a third-party internal, in one place, for the versions they were written against.

Each patch below names the upstream fix it stands in for, or says none was found. `version_mismatch()` is checked at
start-up: on other versions the patches could misbehave silently, so the app refuses to start and says why.
parler-tts's adaptations to transformers 5 live in parler_compat.py, which checks its own versions.
"""

import importlib.metadata
import os
import re
import threading
from collections import deque

import gradio as gr
from anyio.to_thread import run_sync
from fastapi import Request, Response
from fastapi.routing import APIRoute
from gradio import oauth, routes
from gradio.audio_stream_encoder import AAC_FRAME_SAMPLES, AacStreamEncoder
from gradio.blocks import Blocks
from gradio.components import audio as audio_output
from gradio.data_classes import PredictBody, PredictBodyInternal
from gradio.mcp import GradioMCPServer
from gradio.queueing import Event, Queue
from gradio.route_utils import API_PREFIX, MediaStream
from gradio.routes import App
from huggingface_hub.inference._providers import PROVIDER_T, PROVIDERS

import hls

WRITTEN_FOR = {"gradio": "6.31.0", "huggingface_hub": "2.4.0"}


def version_mismatch() -> str | None:
    """What to install when gradio or huggingface_hub is not the version patched here; None when both are."""
    installed = {name: importlib.metadata.version(name) for name in WRITTEN_FOR}
    wrong = {name: version for name, version in installed.items() if version != WRITTEN_FOR[name]}
    if not wrong:
        return None
    written_for = " and ".join(f"{name} {version}" for name, version in WRITTEN_FOR.items())
    found = " and ".join(f"{name} {version}" for name, version in wrong.items())
    wanted = " ".join(f"{name}=={WRITTEN_FOR[name]}" for name in wrong)
    return (
        f"This app patches internals of {written_for} (patches.py), but {found} is installed. Install the pinned "
        f"versions (pip install -r requirements.txt, or pip install {wanted}), or update patches.py for the new ones."
    )


# huggingface_hub 2.4.0's Inference Providers: the names it can call and the tasks each can do (a private module),
# and the messages of the ValueError it raises when it cannot route a call (inference/_providers). Upstream: no
# public API for either.
PROVIDER_NAMES = PROVIDER_T
PROVIDER_TASKS = PROVIDERS
LACKS_TASK = re.compile(r"Task '[^']+' not supported for provider '([^']+)'")
UNKNOWN_PROVIDER = re.compile(r"Provider '([^']+)' not supported")
NOT_SERVED = re.compile(r"not supported by provider |No provider mapping found")
WRONG_TASK = re.compile(r"doesn't support task|is not supported for task")


def install() -> None:
    """Apply the patches below to every app launched from now on; call it before `launch`. Calling it again changes
    nothing.

    - `App.create_app` puts `hls.playlist_route` in front of gradio's playlist route (the low-latency playlist), and
      `MediaStream.add_segment` and `end_stream` wake the playlist requests waiting for a segment. Upstream: gradio
      PR #13847 (6.28) fixed the player's stalls; gradio's route still cannot block a reload in 6.31.
    - `App.create_app` also puts `stream_chunk_route` in front of gradio's `/stream/{event_id}`, and
      `Queue.wait_for_event_or_timeout` hands a streaming event its chunks one by one, in order: gradio keeps only the
      latest chunk of a streaming input, so a chunk of the microphone that arrived while the one before was still being
      heard was lost (hands-free heard "Will it rain tomorrow?" as "bullet rain tomorrow"), and so was the last chunk
      when Stop closed the stream before it was heard; `Event.is_finished` waits for the chunks left. Upstream: none
      found.
    - `Blocks.launch` adds `hls.PLAYER_NUDGE` to the page's head, so the player asks for the first segment at once.
      Upstream: none; hls.js's own `startFragPrefetch` is out of reach in gradio's player.
    - `AacStreamEncoder.take` (gradio's one AAC encoder per streamed answer, an ffmpeg process, PR #13820) waits for
      every frame the audio fed so far completes, at most `ENCODER_WAIT_S`, not only for the first frame ready: gradio's
      first segment of a 0.28 s chunk held 46 ms, too little to start the player, and the rest of that chunk waited
      for the next one. Upstream: none (gradio takes what is ready at once, so that short chunks never wait).
      It also never makes a segment of one frame: that one frame goes with the next segment (or the flush,
      `AacStreamEncoder.flush`). WebKit 2.50's player (hls.js 1.6.15 on `ManagedMediaSource`) buffered nothing of a
      one-frame segment and stalled there, short of the answer's end. Upstream: none found.
    - `AacStreamEncoder`, as gradio's audio output starts one for a new answer, is an encoder started ahead for that
      sampling rate (`start_encoder`), and another is started for the next answer: an ffmpeg process takes about
      0.05 s to come up, which an instant voice waited for. Upstream: none found.
    - `segment_from_frames` (where gradio's audio output makes each segment) starts every AAC segment with its
      timestamp (`hls.timestamp_tag`), as RFC 8216 section 3.4 asks of packed audio: native HLS players (Safari
      before iOS 17.1) need it. Upstream: none found.
    - `GradioMCPServer._execute_tool_without_progress` returns a queued tool's outputs as one content item each, as
      gradio's other MCP paths do, instead of one text holding their list's repr. Upstream: none found.
    """
    if getattr(App.create_app, "serves_our_routes", False):
        return
    create_app, add_segment, end_stream = App.create_app, MediaStream.add_segment, MediaStream.end_stream
    launch, feed, take, flush = Blocks.launch, AacStreamEncoder.feed, AacStreamEncoder.take, AacStreamEncoder.flush
    segment_from_frames = audio_output.segment_from_frames
    wait_for_event, finished = Queue.wait_for_event_or_timeout, Event.is_finished.fget

    def create_app_with_our_routes(*args, **kwargs) -> App:
        app = create_app(*args, **kwargs)
        route = APIRoute(hls.PLAYLIST_PATH, hls.playlist_route, methods=["GET"], include_in_schema=False)
        app.router.routes.insert(0, route)
        chunks = APIRoute(CHUNK_PATH, stream_chunk_route, methods=["POST"], include_in_schema=False)
        app.router.routes.insert(0, chunks)
        return app

    async def wait_for_next_chunk(event, timeout: float) -> str:
        chunks, event.handing_chunk = waiting_chunks(event), False
        while not chunks and not event.closed:
            if await wait_for_event(event, timeout) != "signal":
                return "timeout"
        if chunks:
            event.data, event.handing_chunk = chunks.popleft(), True
            event.signal.clear()
        return "signal"

    async def add_segment_and_wake(self, data) -> None:
        await add_segment(self, data)
        hls.wake(self)

    def end_stream_and_wake(self) -> None:
        end_stream(self)
        hls.wake(self)

    def launch_with_player_nudge(self, *args, head: str | None = None, **kwargs):
        return launch(self, *args, head=(head or "") + hls.PLAYER_NUDGE, **kwargs)

    def feed_and_count(self, pcm: bytes) -> None:
        self.samples_fed = getattr(self, "samples_fed", 0) + len(pcm) // (2 * self.channels)
        feed(self, pcm)

    def take_completed_frames(self, timeout: float | None = None) -> list[bytes]:
        if timeout is not None:
            return take(self, timeout)
        taken = getattr(self, "frames_taken", 0)
        due = completed_frames(getattr(self, "samples_fed", 0), self.sample_rate, self.output_rate) - taken
        with self._condition:  # the last frame is now and then a read of ffmpeg's later: it gets a moment more
            self._condition.wait_for(lambda: self._at_eof or len(self._ready) >= due - 1, ENCODER_WAIT_S)
            self._condition.wait_for(lambda: self._at_eof or len(self._ready) >= due, ENCODER_SETTLE_S)
        frames = take(self, 0)
        self.frames_taken = taken + len(frames)
        frames, self.held = [*getattr(self, "held", []), *frames], []
        if len(frames) == 1:  # a segment of one frame stalls WebKit's player: it goes with the next
            frames, self.held = [], frames
        return frames

    def flush_with_held(self, *args, **kwargs) -> list[bytes]:
        return [*getattr(self, "held", []), *flush(self, *args, **kwargs)]

    def segment_with_timestamp(encoder: AacStreamEncoder, frames: list[bytes]):
        segment, before = segment_from_frames(encoder, frames), getattr(encoder, "frames_segmented", 0)
        if segment:
            segment["data"] = hls.timestamp_tag(before * AAC_FRAME_SAMPLES / encoder.output_rate) + segment["data"]
            encoder.frames_segmented = before + len(frames)
        return segment

    async def tool_outputs(self, job) -> list:
        result = await run_sync(job.result)
        return list(result) if isinstance(result, tuple) else [result]

    create_app_with_our_routes.serves_our_routes = True
    App.create_app = staticmethod(create_app_with_our_routes)
    Blocks.launch = launch_with_player_nudge
    MediaStream.add_segment = add_segment_and_wake
    MediaStream.end_stream = end_stream_and_wake
    AacStreamEncoder.feed = feed_and_count
    AacStreamEncoder.take = take_completed_frames
    AacStreamEncoder.flush = flush_with_held
    audio_output.segment_from_frames = segment_with_timestamp
    audio_output.AacStreamEncoder = encoder_started_ahead
    GradioMCPServer._execute_tool_without_progress = tool_outputs
    Queue.wait_for_event_or_timeout = staticmethod(wait_for_next_chunk)
    Event.is_finished = property(
        lambda event: finished(event) and not waiting_chunks(event) and not getattr(event, "handing_chunk", False)
    )


SPARE_ENCODERS: dict[tuple[int, int], AacStreamEncoder] = {}  # (sampling rate, channels): one started ahead
SPARE_ENCODERS_LOCK = threading.Lock()


def start_encoder(sample_rate: int, channels: int = 1) -> None:
    """Start an AAC encoder for the next answer streamed at `sample_rate`, unless one is waiting already."""
    with SPARE_ENCODERS_LOCK:
        if (sample_rate, channels) not in SPARE_ENCODERS:  # not setdefault: it would start a process left running
            SPARE_ENCODERS[(sample_rate, channels)] = AacStreamEncoder(sample_rate, channels)


def encoder_started_ahead(sample_rate: int, channels: int, *args, **kwargs) -> AacStreamEncoder:
    """The encoder started ahead for this sampling rate, or a new one; and one started for the next answer."""
    with SPARE_ENCODERS_LOCK:
        encoder = SPARE_ENCODERS.pop((sample_rate, channels), None)
    start_encoder(sample_rate, channels)
    return encoder or AacStreamEncoder(sample_rate, channels, *args, **kwargs)


CHUNK_PATH = API_PREFIX + "/stream/{event_id}"  # where the page sends each next chunk of a streaming input
CHUNKS_KEPT = 120  # a streaming input's chunks waiting to be heard: 30 s of the microphone at 0.25 s each


def waiting_chunks(event) -> deque:
    """The chunks of a streaming event that arrived and were not handed to it yet, oldest first."""
    return event.__dict__.setdefault("waiting_chunks", deque(maxlen=CHUNKS_KEPT))


async def stream_chunk_route(event_id: str, body: PredictBody, request: Request):
    """gradio's route for the next chunk of a streaming input, keeping every chunk until the event takes it."""
    event = request.app.get_blocks()._queue.event_ids_to_events.get(event_id)
    if event is None:
        return Response(status_code=404)
    waiting_chunks(event).append(PredictBodyInternal(**body.model_dump(), request=request))
    event.signal.set()
    return {"msg": "success"}


ENCODER_WAIT_S = 0.25  # the longest a chunk waits for its frames: the encoder's start, about 0.1 s here, and a margin
ENCODER_SETTLE_S = 0.01


def completed_frames(samples: int, sample_rate: int, output_rate: int) -> int:
    """The AAC frames an encoder has emitted once `samples` are in: one per 1024 samples at its output rate, the
    first of them its priming, less the frame it holds back to look ahead (measured: ffmpeg 5.1's aac)."""
    return int(samples * output_rate / sample_rate) // AAC_FRAME_SAMPLES - 1


UNFINISHED_KEPT_S = 600  # an unfinished answer unchanged this long was left: a slow voice pauses far less


def forget_old_streams(demo: gr.Blocks, max_age_s: float, now: float, last_change: dict) -> None:
    """Drop gradio's in-memory copy of every answer that ended over `max_age_s` ago, and of every answer left
    unfinished (the voice failed) once it has not changed for `UNFINISHED_KEPT_S` or `max_age_s`, whichever is longer.

    gradio 6.31 keeps each streamed answer's segments (`Blocks.pending_streams`) until its tab closes (#13756, 6.25):
    a tab left open, or a client that never closes its session (the API), keeps them all. `last_change` remembers
    each answer's segments and end as last seen, and since when. Upstream: none found.
    """
    for session, runs in list(demo.pending_streams.items()):
        for run, streams in list(runs.items()):
            seen = tuple((len(stream.segments), stream.ended) for stream in streams.values())
            ended = all(stream.ended for stream in streams.values())
            if last_change.get((session, run), (None,))[0] != seen:
                last_change[(session, run)] = (seen, now)
            elif now - last_change[(session, run)][1] > (max_age_s if ended else max(max_age_s, UNFINISHED_KEPT_S)):
                for stream in streams.values():
                    stream.end_stream()  # releases an unfinished answer's encoder
                runs.pop(run, None)
                last_change.pop((session, run), None)
        if not runs:
            demo.pending_streams.pop(session, None)


def serve_sign_in(offer: bool) -> None:
    """Serve gradio's sign-in routes only when sign-in is offered (else the session middleware alone).

    gradio 6.31 adds them (`routes.attach_oauth`) whenever the page has a gr.LoginButton, even a hidden one: on a
    Space without `hf_oauth` that raises at launch, and off a Space its mock calls the Hub's whoami with the machine's
    token, so an app with no token or no network would not start. Upstream: none; stands in for an option to leave
    sign-in off.
    """
    routes.attach_oauth = oauth.attach_oauth if offer else _add_sessions


def _add_sessions(app) -> None:
    """The session middleware alone, as gradio adds it for sign-in, so that handlers that take gr.OAuthToken get
    None rather than a warning about a missing session."""
    from starlette.middleware.sessions import SessionMiddleware

    app.add_middleware(SessionMiddleware, secret_key=os.urandom(32).hex(), same_site="none", https_only=True)


def private_login_button(**kwargs) -> gr.LoginButton:
    """A gr.LoginButton whose check of who is signed in is not a public API endpoint: gradio 6.31 attaches it as
    `/_check_login_status`, beside `/ask` among the API's and the MCP server's tools. The page attaches
    `button._check_login_status` to its own load event instead. Upstream: none."""
    button = gr.LoginButton(**kwargs)
    button.load_event_to_attach = None
    return button
