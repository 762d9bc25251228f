"""A "Tap to hear the answer" button for browsers that refuse to play the answer without a recent tap.

Safari (and any browser whose autoplay policy asks for a user gesture) refuses `play()` on an answer whose player
starts long after the Ask or Stop tap: the player stays paused and silent. `SCRIPT`, added to the page's head by
`app.serve`, wraps the standard `HTMLMediaElement.prototype.play` (no gradio internals): the caller gets the same
promise as before, and when an <audio>'s `play()` is refused (`NotAllowedError`) one fixed button appears; a tap
plays that answer from its start (the stream keeps every segment). The button goes once any <audio> plays.
See docs/browsers.md.
"""

# A block of its own, so that its names do not clash with another script's on the page. An error of ours stays in the
# try: the page's own call of play() gets its promise either way.
SCRIPT = """<script>{
  const play = HTMLMediaElement.prototype.play;
  let offered = null;
  const withdraw = () => { offered?.remove(); offered = null; };
  const offer = (audio) => {
    withdraw();
    const button = document.createElement("button");
    button.type = "button";
    button.className = "tap-to-hear";
    button.textContent = "\\u{1F50A} Tap to hear the answer";
    button.style.cssText = "position: fixed; left: 50%; bottom: 24px; transform: translateX(-50%); z-index: 1000;"
      + " min-height: 56px; max-width: 90vw; padding: 12px 28px; border: 0; border-radius: 28px; cursor: pointer;"
      + " background: #111; color: #fff; font: 600 18px system-ui, sans-serif; box-shadow: 0 4px 16px #0006;";
    button.addEventListener("click", () => {
      withdraw();
      if (!audio.isConnected) return;
      if (audio.currentTime > 0) audio.currentTime = 0;
      audio.play().catch(() => {});
    });
    document.body.append(button);
    offered = button;
  };
  HTMLMediaElement.prototype.play = function (...args) {
    const playing = play.apply(this, args);
    try {
      if (this instanceof HTMLAudioElement && typeof playing?.catch === "function") {
        playing.catch((error) => error?.name === "NotAllowedError" && offer(this));
      }
    } catch (error) {
      console.warn("tap to hear:", error);
    }
    return playing;
  };
  document.addEventListener("playing", (event) => event.target instanceof HTMLAudioElement && withdraw(), true);
}</script>"""
