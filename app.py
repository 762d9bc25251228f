"""The talking Magic 8 Ball: ask a question out loud and hear a cryptic answer while it is generated."""

import spaces  # first: on ZeroGPU it must be imported before CUDA is touched

# isort: split
import html
import json
import logging
import math
import os
import sys
import threading
import time
import traceback
from contextlib import closing, contextmanager
from dataclasses import dataclass

import gradio as gr
import numpy as np

import patches
import signin
import tap_to_hear
import upkeep
from audio_utils import Segments, numpy_to_mp3, to_wav, wav_seconds
from endpoint import SmartTurn, TurnEnd, load_smart_turn
from errors import StartupError, UserError, redact
from hear import TRANSCRIPTIONS_AT_ONCE, Ears, LocalEars, hear, load_ears, local_ears
from oracle import ClassicOracle, Oracle, load_oracle
from parler import ParlerVoice
from quota import Answerers, Quota, answerers
from settings import Settings, parse_settings
from turns import STATUS, Heard, Listener, Transcriptions, Turn, transcript
from voices import Rehearsed, Voice, load_voice

logger = logging.getLogger("magic8")
VOICE_FAILED = "The voice failed while speaking this answer. Please ask again."
ANSWER_FAILED = "Something went wrong while answering. Please ask again."
QUEUE_PER_GPU_SLOT = 20  # users who may wait for each answer being spoken; more are told the queue is full
SPEECH_CHARS_PER_S = 12  # a slow speaker: 200 characters (the longest answer) in under 17 s
GPU_S_PER_SPEECH_S = 2.0  # ZeroGPU time reserved per second of speech: generation at half real time still fits
GPU_MARGIN_S = 10  # moving inputs, the first chunk's context, encoding
UPLOAD_BYTES_PER_S = 48_000 * 2 * 2 * 2  # a 48 kHz stereo 16-bit WAV, twice over: a recording is far smaller
TURN_WAIT_MARGIN_S = 10.0  # a hands-free answer's event waits for its turn at most `max_question_s` and this long
PLAYER_START_S = 0.5  # from the first chunk of an answer on the server to its first sound in the page, and a margin
CHUNK_EVERY_S = 0.25  # the microphone's chunks reach the server this often
# What an event of the page yields when it has nothing to show: one that yields nothing at all empties its outputs, and
# Stop pressed after a hands-free question was answered emptied the player while that answer played.
UNCHANGED = (gr.skip(), gr.skip(), gr.skip(), gr.skip())


@dataclass(frozen=True)
class Magic8Ball:
    """The stages the app runs with, loaded once when it starts, and for each a note saying why it is not the one
    the settings asked for (shown on the page)."""

    settings: Settings = Settings()
    ears: Ears | None = None
    transcriptions: Transcriptions | None = None  # the hands-free listeners', `TRANSCRIPTIONS_AT_ONCE` at a time
    smart_turn: SmartTurn | None = None  # hands-free: whether a question sounds finished
    oracle: Oracle = ClassicOracle()
    voice: Voice | None = None
    quota: Quota = Quota(Settings.questions_per_minute, Settings.owner_calls_per_day)
    speaking: threading.Semaphore = threading.Semaphore()  # hands-free answers spoken at once (`speaking_at_once`)
    sign_in: bool = False  # whether the page offers Sign in with Hugging Face
    ears_note: str = ""
    oracle_note: str = ""
    voice_note: str = ""

    def describe(self) -> str:
        """A line for the page: which ears hear, which oracle answers, which voice speaks, and why when that is not
        what was asked."""
        spoken_by = f"spoken by the {self.voice.name} voice" if self.voice else "not spoken (text only)"
        heard_by = f"Heard by {self.ears.name}, answered" if self.ears else "Answered"
        lines = [f"{heard_by} by {self.oracle.name}, {spoken_by}."]
        if self.ears is None:
            lines.append("It does not listen: a spoken question is not transcribed, it just gets an answer.")
        elif not self.oracle.listens:
            lines.append("Like the toy, it shows what it heard and answers whatever the question.")
        lines += [note for note in (self.ears_note, self.oracle_note, self.voice_note) if note]
        return " ".join(lines)

    def whose_quota(self, signed_in: gr.OAuthProfile | None) -> str:
        """Whose Inference quota pays for this visitor's questions, for the page."""
        if not (self.oracle.spends_quota or (self.ears and self.ears.spends_quota)):
            return ""
        if signed_in is not None:
            return f"Signed in as {signed_in.username}: your questions are paid from your own Inference quota."
        sign_in = " Sign in with Hugging Face to ask on your own quota." if self.sign_in else ""
        return (
            f"Your questions are paid from this app's Inference quota, {self.settings.questions_per_minute} a minute "
            f"at most (and {self.settings.owner_calls_per_day} calls a day for everyone); beyond that the classic toy "
            f"answers.{sign_in}"
        )


# The running app's stages, for the events below: the toy, text only, until `start` loads what the settings ask for.
# A module global, not an argument: on ZeroGPU the @spaces.GPU steps' arguments are pickled to another process.
ball = Magic8Ball()


def start(settings: Settings, voice: Voice | None = None) -> Magic8Ball:
    """Load the ears, the oracle and the voice the settings ask for (or the `voice` given), once, when the app
    starts; they serve every event from then on. A StartupError says why the app cannot start."""
    global ball
    if problem := patches.version_mismatch():
        raise StartupError(problem)
    try:
        ears, ears_note = load_ears(settings)
    except Exception as error:
        raise StartupError(f"Could not load the local speech recognition (faster-whisper tiny.en): {error}") from error
    oracle, oracle_note = load_oracle(settings)
    try:
        voice, voice_note = (voice, "") if voice else load_voice(settings)
    except Exception as error:
        weights = f" ({settings.tts_model})" if settings.voice == "parler" else ""
        raise StartupError(f"Could not load the {settings.voice} voice{weights}: {error}") from error
    if voice is not None and not isinstance(voice, ParlerVoice) and not oracle.spends_quota:
        voice = Rehearsed(voice)  # hands-free, the answer is spoken while the question's last pause is confirmed
    sign_in = signin.offered(settings.sign_in)
    quota = Quota(settings.questions_per_minute, settings.owner_calls_per_day, sign_in)
    transcriptions = Transcriptions(ears, TRANSCRIPTIONS_AT_ONCE) if ears else None
    smart_turn = load_smart_turn() if settings.turn_pause_s > 0 else None
    speaking = threading.Semaphore(speaking_at_once(settings, voice))
    ball = Magic8Ball(
        settings,
        ears,
        transcriptions,
        smart_turn,
        oracle,
        voice,
        quota,
        speaking,
        sign_in,
        ears_note,
        oracle_note,
        voice_note,
    )
    login.visible = sign_in
    patches.serve_sign_in(sign_in)
    return ball


@contextmanager
def explained_failures(message: str, who: Answerers | None = None):
    """Show what went wrong as a message: a UserError in its own words, anything else as `message`, logged
    without the app's token or the visitor's."""
    try:
        yield
    except gr.Error:
        raise
    except UserError as error:
        raise gr.Error(str(error), print_exception=False) from None
    except Exception:
        trace = redact(redact(traceback.format_exc(), ball.settings.hf_token), who and who.token)
        logger.error("%s\n%s", message, trace)
        raise gr.Error(message, print_exception=False) from None


def who_answers(request: gr.Request | None, signed_in: gr.OAuthToken | None, spoken: bool) -> Answerers:
    """The ears and the oracle for this visitor's question: on their own token when signed in, else on the app's
    within the quota, else offline."""
    token = signin.visitor_token(signed_in)
    return answerers(ball.ears, ball.oracle, token, signin.visitor_of(request), ball.quota, spoken, local_ears)


def heard_question(audio: str | None, who: Answerers | None = None) -> str:
    """The words of a recorded question (none when the app has no ears), or a UserError saying why there are none."""
    hearing = who.ears if who else ball.ears
    if hearing is None:
        return ""
    gr.Info("Transcribing Audio", duration=2)  # short: on a phone the toast covers the ball
    return hear(hearing, audio, ball.settings.max_question_s)


def you_asked(question: str) -> str:
    """The line under the ball that shows what the app heard, so a wrong transcript is told from a wrong answer."""
    return f'<p class="heard">You asked: <q>{html.escape(question)}</q></p>' if question else ""


def in_the_window(answer: str | None) -> str:
    """The answer as the toy shows it: on the blue triangle in the ball's window (as text, escaped), in a size that
    fits its length and its longest word on a line."""
    text = answer or ""
    size = "short" if len(text) <= 24 else "medium" if len(text) <= 70 else "long"
    longest = max((len(word) for word in text.split()), default=1)
    font_cqw = min(FONT_CQW[size], WINDOW_LINE_CQW / longest)
    return (
        '<div class="ball"><div class="window"><div class="triangle"></div>'
        f'<p class="answer {size}" style="font-size: {font_cqw:.1f}cqw" aria-live="polite">{html.escape(text)}</p>'
        "</div></div>"
    )


def why_offline(note: str) -> str:
    """The line under the ball that says why the classic toy answered instead of the app's own oracle."""
    return f'<p class="heard">{html.escape(note)}</p>' if note else ""


def hear_and_answer(
    audio: str | None, request: gr.Request = None, signed_in: gr.OAuthToken | None = None
) -> tuple[str, str]:
    """CPU step: hear the question and answer it; the answer, and the lines that show what was heard and who paid."""
    who = who_answers(request, signed_in, spoken=True)
    with explained_failures(ANSWER_FAILED, who):
        question = heard_question(audio, who)
        return who.oracle.answer(question), you_asked(question) + why_offline(who.note)


def gpu_seconds(answer: str | None) -> int:
    """ZeroGPU time to reserve for speaking `answer`: its likely length, at most `max_speech_s`, plus a margin."""
    speech_s = min(ball.settings.max_speech_s, len(answer or "") / SPEECH_CHARS_PER_S)
    return math.ceil(speech_s * GPU_S_PER_SPEECH_S + GPU_MARGIN_S)


@spaces.GPU(duration=gpu_seconds)
def read_response(answer: str | None):
    """GPU step: speak the answer, yielding each chunk as a WAV as it is ready (gradio encodes them into one AAC
    stream), and when: see `audio_utils.Segments`.

    If the listener leaves, gradio closes this generator at its next yield, and the voice stops generating.
    """
    voice = ball.voice
    if voice is None or not answer:
        yield answer, None
        return
    segments = Segments(voice.sampling_rate)
    yield gr.skip(), None  # the player gets the stream's address now, and sets itself up while the voice speaks
    with explained_failures(VOICE_FAILED), closing(voice.speak(answer)) as chunks:
        for chunk in chunks:
            audio = segments.add(chunk)  # held back, it is still a yield: where gradio stops a voice nobody hears
            yield (answer, to_wav(audio, voice.sampling_rate)) if len(audio) else (gr.skip(), None)
    if len(audio := segments.flush()):
        yield answer, to_wav(audio, voice.sampling_rate)


def typed_question(question: str | None) -> str:
    """The typed question, stripped, or a message saying why it is not asked: it is empty, or too long."""
    question = (question or "").strip()
    if not question:
        raise gr.Error("Type a question first.", print_exception=False)
    if len(question) > ball.settings.max_question_chars:
        raise gr.Error(
            f"Your question is {len(question):,} characters long: the Magic 8 Ball takes questions of at most "
            f"{ball.settings.max_question_chars}. Ask it in fewer words.",
            print_exception=False,
        )
    return question


def answer_text(question: str, who: Answerers | None = None) -> str:
    """The oracle's answer to a typed question: the app's oracle, or the one that answers this visitor."""
    question = typed_question(question)
    with explained_failures(ANSWER_FAILED, who):
        return (who.oracle if who else ball.oracle).answer(question)


def with_note(answer: str, who: Answerers) -> str:
    """The answer text for /ask and /ask_aloud, followed by why the classic toy answered when it did."""
    return f"{answer}\n\n{who.note}" if who.note else answer


def speak_to_the_page(answer: str, heard: str):
    """The GPU step's chunks for the page's outputs (Answer, Spoken Answer, what was heard, the ball): the answer
    shows in its box and in the ball with the first chunk of its voice."""
    for shown, data in read_response(answer):
        yield shown, data, heard, in_the_window(shown) if isinstance(shown, str) else gr.skip()


def respond_aloud(audio: str | None, request: gr.Request = None, signed_in: gr.OAuthToken | None = None):
    """The page's spoken question, in one event: hear and answer it (CPU step), then speak it (GPU step).

    One event, not two chained: the page would wait for the first to end before asking for the second.
    """
    yield from speak_to_the_page(*hear_and_answer(audio, request, signed_in))


def respond_typed(question: str, request: gr.Request = None, signed_in: gr.OAuthToken | None = None):
    """The page's typed question, in one event: answer it (CPU step), then speak it (GPU step)."""
    question = typed_question(question)
    who = who_answers(request, signed_in, spoken=False)
    yield from speak_to_the_page(answer_text(question, who), you_asked(question) + why_offline(who.note))


def listen(chunk: tuple[int, np.ndarray] | None, listener: Listener | None):
    """Stream step, on the CPU: hear one chunk from the microphone. The listener, the status line when it changed, and
    the count of answers asked for: the page starts an answer's event each time it changes."""
    if listener is None:
        speculate = isinstance(ball.ears, LocalEars)  # free to transcribe twice; the Inference API hears once
        prepare = answer_ahead if isinstance(ball.voice, Rehearsed) else None  # a free oracle and a CPU voice
        if prepare:
            ball.voice.learn(ball.oracle.answers)  # the classic toy's twenty: its answers then wait for nothing
        ending, max_question_s = turn_end(ball.settings), ball.settings.max_question_s
        listener = Listener(ball.transcriptions, ending, max_question_s, speculate, prepare, ball.smart_turn)
    if chunk is not None:
        listener.hear(*chunk)
    return listener, listener.news() or gr.skip(), listener.asked


def turn_end(settings: Settings) -> TurnEnd:
    """The pauses that end a hands-free turn, as the settings ask."""
    return TurnEnd(
        settings.turn_pause_s,
        settings.turn_unsure_pause_s,
        settings.turn_max_pause_s,
        settings.turn_complete_p,
    )


def answer_ahead(words: str) -> str | None:
    """While a question's last pause is confirmed: the (free) oracle's answer to the words so far, already spoken.
    None if that failed: the answer is then made once the turn ends, where a failure is shown."""
    try:
        answer = ball.oracle.answer(words)
        ball.voice.rehearse(answer)
        return answer
    except Exception as error:
        logger.warning("Could not prepare an answer ahead (%s)", type(error).__name__)
        return None


def heard_turn(turn: Turn, who: Answerers) -> Heard:
    """What was heard of a spoken turn: mostly heard (and answered) already, by the app's ears; by the visitor's or
    the offline ears when those hear this question."""
    if who.ears is None:
        return Heard("")
    if who.ears is ball.ears:
        return transcript(turn, ball.transcriptions)
    return Heard(who.ears.transcribe(to_wav(turn.audio)).strip())


def answer_turn(turn: Turn, listener: Listener, hands_free: bool, who: Answerers):
    """Hear the question of a turn, answer it and speak it; the listener listens again once the answer has played.
    Hands-free, a turn without words (a cough, a noise) gets no answer and no message."""
    spoken_s, first_chunk_at = 0.0, None
    try:
        with explained_failures(ANSWER_FAILED, who):
            if turn.too_long:
                gr.Warning(f"Your question ran over {ball.settings.max_question_s:g} s: only its start was heard.")
            heard = heard_turn(turn, who)
            question = heard.words
            if who.ears and not question and not hands_free:
                raise UserError("No words could be made out in your recording. Speak a little closer and ask again.")
            if who.ears and not question:
                return
            free = not who.oracle.spends_quota  # then the answer made ahead is as good as a new one
            answer = heard.answer if heard.answer and free else who.oracle.answer(question)
        for shown, data, heard, window in speak_to_the_page(answer, you_asked(question) + why_offline(who.note)):
            if data:
                first_chunk_at = first_chunk_at or time.monotonic()
                spoken_s += wav_seconds(data)
            yield shown, data, heard, window
    finally:
        listener.listen_again(at=(first_chunk_at or time.monotonic()) + spoken_s + PLAYER_START_S)


def respond_turn(listener: Listener | None, request: gr.Request = None, signed_in: gr.OAuthToken | None = None):
    """The page's hands-free question, in one event that starts at the first silence after speech: the player sets
    itself up while the pause is confirmed; once the turn ends, hear, answer and speak it.

    It waits in a group of its own (a question can go on after a short pause), and speaks within `ball.speaking`."""
    if listener is None or listener.asked == 0 or listener.phase == "idle":
        yield UNCHANGED  # the page's first count, or Stop came first (and answered)
        return
    yield gr.skip(), None, gr.skip(), gr.skip()  # the player gets the stream's address now
    turn = listener.wait_for_turn(ball.settings.max_question_s + TURN_WAIT_MARGIN_S)
    if turn is not None:
        with ball.speaking:
            yield from answer_turn(turn, listener, True, who_answers(request, signed_in, spoken=True))


def respond_stopped(listener: Listener | None, request: gr.Request = None, signed_in: gr.OAuthToken | None = None):
    """The person pressed Stop: answer what they said since the last answer (its transcript is often ready), unless
    the answer's event started at a pause already waits for it."""
    turn = listener.stop() if listener else None
    if turn is not None:
        yield from answer_turn(turn, listener, False, who_answers(request, signed_in, spoken=True))
    elif listener is None or listener.asked == 0:
        raise gr.Error("I heard no question. Press Record, ask your question, then press Stop.", print_exception=False)
    else:
        yield UNCHANGED  # the question was answered already: its answer plays on


@spaces.GPU(duration=gpu_seconds)
def speak_whole(answer: str) -> bytes:
    """GPU step of /ask and /ask_aloud: the whole answer spoken, as MP3 bytes (gradio keeps them in its cache, which
    it cleans)."""
    voice = ball.voice
    with explained_failures(VOICE_FAILED):
        speech = np.concatenate([np.zeros(0, dtype=np.float32), *voice.speak(answer)])
    return numpy_to_mp3(speech, voice.sampling_rate)


def ask(question: str, request: gr.Request = None, signed_in: gr.OAuthToken | None = None):
    """Ask the Magic 8 Ball a yes-or-no question; it answers as the toy does, in text and in speech.

    Args:
        question: the question, in plain words, e.g. "Will it rain tomorrow?"
    Returns:
        The answer text, then the answer spoken aloud as an MP3 file (its URL; none when the app has no voice).
    """
    question = typed_question(question)
    who = who_answers(request, signed_in, spoken=False)
    answer = answer_text(question, who)
    return with_note(answer, who), (speak_whole(answer) if ball.voice else None)


def ask_aloud(recording: str, request: gr.Request = None, signed_in: gr.OAuthToken | None = None):
    """Ask the Magic 8 Ball a question out loud; it says what it heard and answers in text and in speech.

    Args:
        recording: the spoken question, a short audio file (WAV, MP3, OGG, WebM...)
    Returns:
        The question as heard, the answer text, then the answer spoken aloud as an MP3 file (none without a voice).
    """
    who = who_answers(request, signed_in, spoken=True)
    with explained_failures(ANSWER_FAILED, who):
        question = heard_question(recording, who)
        answer = who.oracle.answer(question)
    return question, with_note(answer, who), (speak_whole(answer) if ball.voice else None)


def describe_backends(signed_in: gr.OAuthProfile | None = None) -> str:
    """The page's line that says which ears, oracle and voice the app runs with, and whose Inference quota pays."""
    return " ".join(line for line in (ball.describe(), ball.whose_quota(signed_in)) if line)


def upload_limit_bytes(settings: Settings) -> int:
    """The largest upload accepted: far more than a recording of `max_question_s` takes."""
    return max(1_000_000, int(settings.max_question_s * UPLOAD_BYTES_PER_S))


def configure_queue(settings: Settings) -> gr.Blocks:
    """Queue every event: Parler-TTS speaks `gpu_concurrency` answers at once, the others wait their turn.

    CPU voices (Piper, espeak-ng) hold no GPU and speak on one thread each, so they speak one answer per CPU core at
    once. The page's events hear, answer and speak in one event each, so a question waits for one of these slots
    before it is heard; a hands-free answer's event waits for its turn outside them and speaks within
    `Magic8Ball.speaking`, of the same size.
    Files in gradio's cache (uploads, answers) and answers kept in memory are deleted `cache_max_age_s` after they
    were made, checked every `cache_max_age_s / 2`.
    """
    demo.delete_cache = (max(1, settings.cache_max_age_s // 2), settings.cache_max_age_s)
    upkeep.keep_forgetting_streams(demo, settings.cache_max_age_s)
    at_once = speaking_at_once(settings, ball.voice)
    return demo.queue(default_concurrency_limit=at_once, max_size=QUEUE_PER_GPU_SLOT * at_once)


def speaking_at_once(settings: Settings, voice: Voice | None) -> int:
    """Answers spoken at once: `gpu_concurrency` for Parler-TTS, one per CPU core for a CPU voice."""
    return settings.gpu_concurrency if isinstance(voice, ParlerVoice) else os.cpu_count() or 1


def serve(settings: Settings, voice: Voice | None = None, **launch_options) -> str:
    """Build and serve the app from `settings`: load the stages (or speak with `voice`), patch gradio, queue the
    events and launch; the URL it serves at.

    `launch_options` go to `gr.Blocks.launch` (tests pass `prevent_thread_lock=True`; `demo.close()` stops it); a
    `head` given there comes before the page's own scripts (`tap_to_hear.SCRIPT`).
    """
    start(settings, voice)
    print(describe_backends())
    patches.install()
    if ball.voice:
        patches.start_encoder(ball.voice.sampling_rate)  # the first answer's
    _, url, _ = configure_queue(settings).launch(
        share=settings.share,
        server_name=settings.host,
        server_port=settings.port,
        mcp_server=settings.mcp,
        max_file_size=upload_limit_bytes(settings),
        ssr_mode=False,  # gradio 6.27 to 6.31: with SSR on, a forged Host header reaches run history (CVE-2026-134825)
        head=launch_options.pop("head", "") + tap_to_hear.SCRIPT,
        **launch_options,
    )
    return url


BALL_CSS = """
.ball { container-type: inline-size; width: min(300px, 60vw); aspect-ratio: 1; margin: 8px auto 0;
  border-radius: 50%; background: radial-gradient(circle at 34% 28%, #6e6e6e 0, #1d1d1d 36%, #000 72%);
  box-shadow: 0 10px 28px rgba(0, 0, 0, 0.35); display: grid; place-items: center; }
.window { position: relative; width: 64%; aspect-ratio: 1; border-radius: 50%; border: 5px solid #2b2b2b;
  background: radial-gradient(circle, #0e2a6b 0, #04102b 60%, #01040c 100%); }
.triangle { position: absolute; left: 7%; top: 12%; width: 86%; height: 74.5%;
  clip-path: polygon(0 0, 100% 0, 50% 100%); background: linear-gradient(#2f6fe4, #1642b0); }
.answer { position: absolute; left: 19%; right: 19%; top: 19%; margin: 0; color: #fff; text-align: center;
  font-family: system-ui, sans-serif; font-weight: 700; text-transform: uppercase; line-height: 1.15;
  overflow-wrap: break-word; }
.long { left: 12%; right: 12%; top: 15%; text-transform: none; }
"""
FONT_CQW = {"short": 6.4, "medium": 4.8, "long": 3.6}  # of the ball's width, by the answer's length
WINDOW_LINE_CQW = 50  # a word of n capitals fits on the window's top line at up to 50 / n of the ball's width
# gradio 6.31's recorder uploads each chunk of the microphone and does not catch a failed upload (a dropped
# connection, an error from the server): the page would go on saying it listens. This says so on the status line.
SOUND_LOST_JS = f"""
const lost = {json.dumps(STATUS["lost"])};
const uploadFailed = /^(Connection errored out|HTTP [0-9]{{3}}|File\\(s\\) exceed)/;  // gradio client's upload errors
window.addEventListener("unhandledrejection", (event) => {{
  const reason = String(event.reason?.message ?? event.reason);
  if (!uploadFailed.test(reason) || element.innerText.trim().startsWith("Press")) return;  // recording only
  props.value = lost.replace("{{reason}}", reason.replace(/[<>&]/g, "").slice(0, 120));
}});
"""
HEARD_CSS = ".heard { text-align: center; font-size: 1.1rem; margin: 6px 0; } .heard q { font-style: italic; }"

patches.serve_sign_in(False)  # gradio builds its app (and sign-in routes) as the Blocks closes; start() may offer it
with gr.Blocks(title="Magic 8 Ball", delete_cache=(300, 600)) as demo:
    gr.HTML("<h1 style='text-align: center; margin: 0;'>Magic 8 Ball 🎱</h1>")  # short: Record shows on a phone
    with gr.Group():  # the voice is the main way in: first
        audio_in = gr.Audio(label="Speak your question", sources=["microphone"], type="numpy", streaming=True)
        listening = gr.HTML(STATUS["idle"], elem_classes="listening", js_on_load=SOUND_LOST_JS)
    ball_picture = gr.HTML(in_the_window(None), css_template=BALL_CSS, js_on_load=None)
    heard = gr.HTML(css_template=HEARD_CSS, js_on_load=None)
    with gr.Group():
        with gr.Row(equal_height=True):
            audio_out = gr.Audio(label="Spoken Answer", streaming=True, autoplay=True, min_width=320)
            answer = gr.Textbox(label="Answer", min_width=320)
        with gr.Row(equal_height=True):
            question = gr.Textbox(label="Or type your question", placeholder="Will it rain tomorrow?", scale=4)
            ask_button = gr.Button("Ask", variant="primary", scale=0, min_width=80)
    login = patches.private_login_button(visible=False)  # shown when sign-in is offered (start)
    backends = gr.Markdown()
    gr.HTML(
        """<p style='text-align: center;'>Powered by <a href="https://github.com/huggingface/parler-tts">Parler-TTS</a>,
        <a href="https://github.com/MMWilliams/hibari">hibari</a>, <a href="https://github.com/OHF-Voice/piper1-gpl">Piper</a>,
        <a href="https://github.com/SYSTRAN/faster-whisper">Whisper</a> and
        <a href="https://github.com/pipecat-ai/smart-turn">Smart Turn</a></p>"""
    )
    listener = gr.State()
    answers_asked = gr.Number(visible=False)
    with gr.Column(visible=False):  # the /ask endpoint's own components: for the API and MCP, not for the page
        api_question = gr.Textbox(label="Question")
        api_answer = gr.Textbox(label="Answer")
        api_audio = gr.Audio(label="Spoken answer", type="filepath")
        api_recording = gr.Audio(label="Recording", sources=["upload"], type="filepath")
        api_heard = gr.Textbox(label="Question heard")
        recording = gr.Audio(label="Recording", sources=["upload"], type="filepath")  # the page event /respond_aloud

    demo.load(describe_backends, None, backends, api_visibility="private")
    demo.load(login._check_login_status, None, login, api_visibility="private")
    # The page's own events are callable (the tests drive them) but undocumented, so /ask is the one public endpoint
    # and the one MCP tool. Every event that speaks shares the "voice" group. Progress shows on the Answer box alone:
    # redrawing the other outputs as pending would hold up the player in the browser.
    page_step = dict(api_visibility="undocumented", concurrency_id="voice", show_progress_on=answer)
    answered = [answer, audio_out, heard, ball_picture]
    audio_in.stream(
        listen,
        [audio_in, listener],
        [listener, listening, answers_asked],
        stream_every=CHUNK_EVERY_S,
        concurrency_limit=None,  # light (the VAD on a second of audio); transcriptions have their own bound
        trigger_mode="multiple",  # every chunk is sent (gradio's default sends the latest once the last is heard)
        api_visibility="undocumented",
        show_progress="hidden",
    )
    answers_asked.change(  # waits for its turn to end, in a group of its own (see respond_turn)
        respond_turn, listener, answered, api_visibility="undocumented", concurrency_limit=None, show_progress="hidden"
    )
    recording.upload(respond_aloud, recording, answered, **page_step)
    audio_in.stop_recording(respond_stopped, listener, answered, **page_step)
    audio_in.stop_recording(None, None, listening, js=f"() => {json.dumps(STATUS['idle'])}")
    gr.on([question.submit, ask_button.click], respond_typed, question, answered, **page_step)
    api_question.submit(ask, api_question, [api_answer, api_audio], api_name="ask", concurrency_id="voice")
    api_recording.upload(
        ask_aloud, api_recording, [api_heard, api_answer, api_audio], api_name="ask_aloud", concurrency_id="voice"
    )


def main(argv: list[str] | None = None) -> None:
    """Serve the app with the settings of the command line and the environment, until it is stopped."""
    try:
        serve(parse_settings(argv))
    except StartupError as error:
        sys.exit(str(error))


if __name__ == "__main__":
    main()
