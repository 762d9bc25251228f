"""A low-latency HLS playlist for gradio 6.31's streamed outputs: each segment reaches the player once it exists.

gradio's own playlist route declares `#EXT-X-TARGETDURATION` as the longest segment rounded up (at least 1) and cannot
block. Its player (hls.js 1.6.15, `lowLatencyMode` on) re-reads a live playlist that did not change only every
target/2 seconds, so a segment finished just after a reload waits up to that long. Our route (`playlist_route`, put in
front of gradio's at the same path by `patches.install()`) declares the real target duration and
`CAN-BLOCK-RELOAD=YES`, so hls.js asks for the next segment with `?_HLS_msn=N` and we answer as soon as segment N (or
the end of the stream) is there. `patches.install()` also adds `PLAYER_NUDGE` to every page, so that the player asks
for the first segment at once. See docs/streaming.md.
"""

import asyncio
import math
from urllib.parse import urlencode

from fastapi import Request, Response
from gradio.route_utils import API_PREFIX, MediaStream

PLAYLIST_PATH = API_PREFIX + "/stream/{session_hash}/{run}/{component_id}/playlist.m3u8"
FIRST_SEQUENCE = 1  # hls.js only blocks for the segment after one numbered above 0
MAX_BLOCK_S = 8.0  # hls.js gives up on a playlist request after 10 s without an answer
# hls.js asks for the first segment only at its next 100 ms tick when the playlist came before the <audio> had opened
# its MediaSource, which a busy page does late. A "seeking" event on that <audio> makes hls.js look at once
# (`onMediaSeeking`), so the page sends one when the MediaSource opens. The position stays where it is.
# hls.js takes `ManagedMediaSource` where there is one (Safari 17+; an iPhone has no `MediaSource` at all) and then
# gives the <audio> a <source> child instead of a `src`. Nothing of ours may break hls.js's attach: the original is
# called first, the names are feature-checked, and an error of ours stays in the try.
# A block of its own, so that its names do not clash with another script's on the page.
PLAYER_NUDGE = """<script>{
  const createObjectURL = URL.createObjectURL;
  const mediaSources = [window.MediaSource, window.ManagedMediaSource].filter((kind) => typeof kind === "function");
  const plays = (audio, url) => audio.src === url || audio.querySelector("source")?.src === url;
  URL.createObjectURL = function (source, ...rest) {
    const url = createObjectURL.call(this, source, ...rest);
    try {
      if (mediaSources.some((kind) => source instanceof kind)) {
        const lookNow = () => document.querySelectorAll("audio").forEach(
          (audio) => plays(audio, url) && audio.dispatchEvent(new Event("seeking"))
        );
        source.addEventListener("sourceopen", lookNow, {once: true});
      }
    } catch (error) {
      console.warn("player nudge:", error);
    }
    return url;
  };
}</script>"""


TIMESTAMP_OWNER = b"com.apple.streaming.transportStreamTimestamp\x00"


def syncsafe(number: int) -> bytes:
    """An ID3v2 size: four bytes of seven bits each."""
    return bytes((number >> shift) & 0x7F for shift in (21, 14, 7, 0))


def timestamp_tag(seconds: float) -> bytes:
    """The ID3v2.4 tag that starts an HLS packed-audio segment (RFC 8216 section 3.4): a PRIV frame holding the
    33-bit MPEG-2 timestamp (90 kHz) of the segment's first sample. Native HLS players (Safari before iOS 17.1) need
    it; hls.js and ffmpeg skip it."""
    stamp = TIMESTAMP_OWNER + (round(seconds * 90000) % 2**33).to_bytes(8, "big")
    frame = b"PRIV" + syncsafe(len(stamp)) + b"\x00\x00" + stamp
    return b"ID3\x04\x00\x00" + syncsafe(len(frame)) + frame


def playlist(stream: MediaStream, query: str = "") -> str:
    """The playlist of a stream: its segments so far, the real target duration, and the end once it ended; `query`
    follows each segment's address (gradio's `?__sign=` of a signed stream)."""
    target = max(1, math.ceil(max((segment["duration"] for segment in stream.segments), default=1)))
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:6",
        "#EXT-X-PLAYLIST-TYPE:EVENT",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES",
        f"#EXT-X-MEDIA-SEQUENCE:{FIRST_SEQUENCE}",
        "#EXT-X-START:TIME-OFFSET=0",  # as gradio's: play from the start, not near the newest segment
    ]
    for segment in stream.segments:
        lines += [f"#EXTINF:{segment['duration']:.6f},", f"{segment['id']}{segment['extension']}{query}"]
        if segment["extension"] == ".ts":  # as gradio does: video chunks are not re-encoded to continuous timestamps
            lines.append("#EXT-X-DISCONTINUITY")
    if stream.ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def has_segment(stream: MediaStream, sequence: int) -> bool:
    return stream.ended or FIRST_SEQUENCE + len(stream.segments) > sequence


async def wait_for_segment(stream: MediaStream, sequence: int, timeout_s: float) -> None:
    """Wait until segment `sequence` is in the stream, or the stream ended, or `timeout_s` passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not has_segment(stream, sequence) and loop.time() < deadline:
        changed = loop.create_future()
        waiters(stream).add(changed)
        try:
            await asyncio.wait_for(changed, deadline - loop.time())
        except TimeoutError:
            pass
        finally:
            waiters(stream).discard(changed)


def waiters(stream: MediaStream) -> set:
    """The futures of the requests waiting for this stream to change."""
    return stream.__dict__.setdefault("hls_waiters", set())


def wake(stream: MediaStream) -> None:
    """Tell every request waiting on this stream that it changed (from any thread)."""
    for changed in list(waiters(stream)):
        changed.get_loop().call_soon_threadsafe(lambda f=changed: f.done() or f.set_result(None))


async def playlist_route(session_hash: str, run: str, component_id: int, request: Request) -> Response:
    """gradio's playlist, as LL-HLS: with `_HLS_msn=N` it answers once segment N exists or the stream ended.

    A plain reload of a playlist that has not changed since it was last served waits the same way: hls.js reloads
    once more, plainly, right after its first load (and after a blocking reload timed out), then would wait for
    target/2 (0.5 s or more) before asking again. So does the first load of a stream that has no segment yet (the
    page gets its address before the voice has spoken): hls.js takes a playlist without segments for an error.
    """
    stream = request.app.get_blocks().pending_streams[session_hash].get(run, {}).get(component_id)
    if not stream:
        return Response(status_code=404)
    if (sequence := request.query_params.get("_HLS_msn", "")).isdigit():
        await wait_for_segment(stream, int(sequence), MAX_BLOCK_S)
    elif (served := stream.__dict__.get("hls_served", (0, False))) == (len(stream.segments), stream.ended):
        await wait_for_segment(stream, FIRST_SEQUENCE + served[0], MAX_BLOCK_S)
    stream.hls_served = (len(stream.segments), stream.ended)
    signature = request.query_params.get("__sign")
    return Response(
        content=playlist(stream, f"?{urlencode({'__sign': signature})}" if signature else ""),
        media_type="application/vnd.apple.mpegurl",
        headers={"Cache-Control": "private, no-store" if signature else "no-store"},
    )
