"""Every patch of a third-party internal, in one place, for the versions they were written against.

gradio 6.17.3 is the newest gradio that installs beside parler-tts 0.2.3 (docs/streaming.md says why), and it lacks
fixes that later releases have. Each patch below names the upstream fix it stands in for. `version_mismatch()` is
checked at start-up: on other versions the patches could misbehave silently, so the app refuses to start and says why.
"""

import importlib.metadata
import os
import re

import gradio as gr
from anyio.to_thread import run_sync
from fastapi.routing import APIRoute
from gradio import oauth, routes
from gradio.blocks import Blocks
from gradio.mcp import GradioMCPServer
from gradio.route_utils import MediaStream
from gradio.routes import App
from huggingface_hub.inference._providers import PROVIDER_T, PROVIDERS

import hls
from audio_utils import adts_duration, is_adts

WRITTEN_FOR = {"gradio": "6.17.3", "huggingface_hub": "0.36.2"}


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


# huggingface_hub 0.36.2's Inference Providers: the names it can call and the tasks each can do (a private module),
# and the messages of the ValueError it raises when it cannot route a call (inference/_providers). Upstream: no
# public API for either.
PROVIDER_NAMES = PROVIDER_T
PROVIDER_TASKS = PROVIDERS
LACKS_TASK = re.compile(r"Task '[^']+' not supported for provider '([^']+)'")
UNKNOWN_PROVIDER = re.compile(r"Provider '([^']+)' not supported")
NOT_SERVED = re.compile(r"not supported by provider |No provider mapping found")
WRONG_TASK = re.compile(r"doesn't support task|is not supported for task")


class StreamingAudio(gr.Audio):
    """A streaming `gr.Audio` that serves ADTS chunks from one `audio_utils.AacStream` as they are.

    gradio 6.17.3 re-encodes every chunk with a fresh AAC encoder (`Audio.covert_to_adts`), which adds a gap at each
    seam; chunks that are already one continuous ADTS stream need no re-encoding. Other bytes (MP3, WAV) still go
    through gradio's own conversion. Upstream: gradio PR #13820 (one encoder per stream), gradio 6.27.
    """

    def get_block_name(self) -> str:
        """The browser draws it with gr.Audio's player; a subclass's own name would ask for a custom component."""
        return "audio"

    @staticmethod
    async def covert_to_adts(data: bytes) -> tuple[bytes, float]:
        if is_adts(data):
            return data, adts_duration(data)
        return await gr.Audio.covert_to_adts(data)


def install() -> None:
    """Apply the patches below to every app launched from now on; call it before `launch`. Calling it again changes
    nothing.

    - `App.create_app` puts `hls.playlist_route` in front of gradio's playlist route (the low-latency playlist), and
      `MediaStream.add_segment` and `end_stream` wake the playlist requests waiting for a segment. Upstream: gradio
      PR #13847 (player buffer and stall handling, gradio 6.27) fixed the player's side; gradio's route still cannot
      block as of 6.31.
    - `Blocks.launch` adds `hls.PLAYER_NUDGE` to the page's head, so the player asks for the first segment at once.
      Upstream: none; hls.js's own `startFragPrefetch` is out of reach in gradio's player.
    - `GradioMCPServer._execute_tool_without_progress` returns a queued tool's outputs as one content item each, as
      gradio's other MCP paths do, instead of one text holding their list's repr. Upstream: none found.
    """
    if getattr(App.create_app, "serves_ll_hls", False):
        return
    create_app, add_segment, end_stream = App.create_app, MediaStream.add_segment, MediaStream.end_stream
    launch = Blocks.launch

    def create_app_with_ll_hls(*args, **kwargs) -> App:
        app = create_app(*args, **kwargs)
        route = APIRoute(hls.PLAYLIST_PATH, hls.playlist_route, methods=["GET"], include_in_schema=False)
        app.router.routes.insert(0, route)
        return app

    async def add_segment_and_wake(self, data) -> None:
        await add_segment(self, data)
        hls.wake(self)

    def end_stream_and_wake(self) -> None:
        end_stream(self)
        hls.wake(self)

    def launch_with_player_nudge(self, *args, head: str | None = None, **kwargs):
        return launch(self, *args, head=(head or "") + hls.PLAYER_NUDGE, **kwargs)

    async def tool_outputs(self, job) -> list:
        result = await run_sync(job.result)
        return list(result) if isinstance(result, tuple) else [result]

    create_app_with_ll_hls.serves_ll_hls = True
    App.create_app = staticmethod(create_app_with_ll_hls)
    Blocks.launch = launch_with_player_nudge
    MediaStream.add_segment = add_segment_and_wake
    MediaStream.end_stream = end_stream_and_wake
    GradioMCPServer._execute_tool_without_progress = tool_outputs


ANALYTICS_KEPT = 1000  # gradio's per-event records kept for its analytics summary
UNFINISHED_KEPT_S = 600  # an unfinished answer unchanged this long was left: a slow voice pauses far less


def forget_old_streams(demo: gr.Blocks, max_age_s: float, now: float, last_change: dict) -> None:
    """Drop gradio's in-memory copy of every answer that ended over `max_age_s` ago, and of every answer left
    unfinished (the listener closed the tab, or the voice failed: gradio never ends those) once it has not changed for
    `UNFINISHED_KEPT_S` or `max_age_s`, whichever is longer; and all but the last `ANALYTICS_KEPT` event records.

    gradio 6.17.3 keeps each streamed answer's segments (`Blocks.pending_streams`) and one record per event
    (`Queue.event_analytics`) for good. `last_change` remembers each answer's segments and end as last seen, and since
    when. Upstream: none found.
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


def new_player_for_each_answer(triggers: list, player: gr.Audio) -> None:
    """Empty the streaming `player` in the page the moment a question is asked (no request), so that gradio draws a
    new player for the answer's stream.

    gradio 6.17.3's player attaches hls.js to the first stream it is given and never to a later one: its
    `stream_active` flag is reset only when a waveform is ready, which a streaming player never has, so every answer
    after the first in a page was shown but not played. An empty value unmounts that player; the answer's stream then
    mounts a fresh one. Upstream: gradio issue #13807 (its workaround, `show_recording_waveform=False`, does not help
    in 6.17.3).
    """
    gr.on(triggers, None, None, player, js="() => null", api_visibility="private")


def serve_sign_in(offer: bool) -> None:
    """Serve gradio's sign-in routes only when sign-in is offered (else the session middleware alone).

    gradio 6.17.3 adds them (`routes.attach_oauth`) whenever the page has a gr.LoginButton, even a hidden one: on a
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
    """A gr.LoginButton whose check of who is signed in is not a public API endpoint: gradio 6.17.3 attaches it as
    `/_check_login_status`, beside `/ask` among the API's and the MCP server's tools. The page attaches
    `button._check_login_status` to its own load event instead. Upstream: none."""
    button = gr.LoginButton(**kwargs)
    button.load_event_to_attach = None
    return button
