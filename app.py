"""The talking Magic 8 Ball: ask a question out loud and hear a cryptic answer while it is generated."""

import spaces  # first: on ZeroGPU it must be imported before CUDA is touched

# isort: split
import logging
import sys
import traceback
from contextlib import closing

import gradio as gr
from huggingface_hub import InferenceClient

from audio_utils import AacStream, StreamingAudio
from errors import UserError, redact
from listen import transcribe
from oracle import ClassicOracle, LLMOracle, Oracle
from settings import Settings, parse_settings
from voices import Voice, load_parler, tiny_random_voice

settings = Settings()
client = InferenceClient()
oracle: Oracle = ClassicOracle()
voice: Voice | None = None
logger = logging.getLogger("magic8")
QUEUE_PER_GPU_SLOT = 20  # users who may wait for each answer being spoken; more are told the queue is full


def load_voice(settings: Settings) -> Voice | None:
    """The voice the settings ask for; model weights load here, at start-up."""
    voice_kwargs = dict(
        first_chunk_s=settings.first_chunk_s, chunk_s=settings.chunk_s, max_speech_s=settings.max_speech_s
    )
    if settings.voice == "tiny-random":
        return tiny_random_voice(description=settings.voice_description, **voice_kwargs)
    if settings.voice == "none":
        return None
    return load_parler(
        settings.tts_model, settings.tts_tokenizer, description=settings.voice_description, **voice_kwargs
    )


def start(new_settings: Settings, new_voice: Voice | None = None) -> None:
    """Choose the oracle and load the voice, once, when the app starts."""
    global settings, client, oracle, voice
    settings = new_settings
    client = InferenceClient(token=settings.hf_token, timeout=settings.inference_timeout_s)
    llm_is_url = settings.llm_model.startswith(("http://", "https://"))
    if settings.offline or not (settings.hf_token or llm_is_url):
        oracle = ClassicOracle()
    else:
        oracle = LLMOracle(client, settings.llm_model)
    voice = new_voice or load_voice(settings)


def generate_response(audio: str | None):
    """CPU step: hear the question and answer it. The answer shows only once its audio does."""
    try:
        question = ""
        if oracle.listens:
            gr.Info("Transcribing Audio", duration=5)
            question = transcribe(client, audio, settings.asr_model, settings.max_question_s)
        return oracle.answer(question), None, None
    except UserError as error:
        raise gr.Error(str(error), print_exception=False) from None
    except Exception:
        logger.error("Answering failed:\n%s", redact(traceback.format_exc(), settings.hf_token))
        raise gr.Error("Something went wrong while answering. Please ask again.", print_exception=False) from None


@spaces.GPU
def read_response(answer: str | None):
    """GPU step: speak the answer, yielding each chunk of one continuous AAC stream as it is ready.

    If the listener leaves, gradio closes this generator and the voice stops generating at its next step.
    """
    if voice is None or not answer:
        yield answer, None
        return
    stream = AacStream(voice.sampling_rate)
    try:
        with closing(voice.speak(answer)) as chunks:
            for chunk in chunks:
                if data := stream.encode(chunk):
                    yield answer, data
    except Exception:
        logger.error("The voice failed:\n%s", redact(traceback.format_exc(), settings.hf_token))
        raise gr.Error(
            "The voice failed while speaking this answer. Please ask again.", print_exception=False
        ) from None
    if data := stream.close():
        yield answer, data


def describe_backends() -> str:
    """One line for the page: which oracle answers and which voice speaks."""
    spoken_by = f"spoken by the **{voice.name}** voice" if voice else "not spoken (no voice is available)"
    return f"Answered by {oracle.name}, {spoken_by}."


with gr.Blocks(title="Magic 8 Ball") as demo:
    gr.HTML(
        """
        <h1 style='text-align: center;'> Magic 8 Ball 🎱 </h1>
        <h3 style='text-align: center;'> Ask a question and receive wisdom </h3>
        <p style='text-align: center;'> Powered by <a href="https://github.com/huggingface/parler-tts"> Parler-TTS</a>
        """
    )
    backends = gr.Markdown(describe_backends)
    with gr.Group():
        with gr.Row(equal_height=True):
            audio_out = StreamingAudio(label="Spoken Answer", streaming=True, autoplay=True, min_width=320)
            answer = gr.Textbox(label="Answer", min_width=320)
            state = gr.State()
        with gr.Row():
            audio_in = gr.Audio(label="Speak your question", sources=["microphone"], type="filepath")

    audio_in.stop_recording(generate_response, audio_in, [state, answer, audio_out], concurrency_limit=None).success(
        fn=read_response, inputs=state, outputs=[answer, audio_out]
    )


def configure_queue(settings: Settings) -> gr.Blocks:
    """Queue every event: `gpu_concurrency` answers are spoken at once, the others wait their turn.

    The CPU step (Inference API calls) has no limit of its own, so hearing a question never waits behind speech.
    """
    return demo.queue(
        default_concurrency_limit=settings.gpu_concurrency, max_size=QUEUE_PER_GPU_SLOT * settings.gpu_concurrency
    )


def main(argv: list[str] | None = None) -> None:
    """Load the models, then serve the app."""
    settings = parse_settings(argv)
    try:
        start(settings)
    except Exception as error:
        sys.exit(f"Could not load the {settings.voice} voice ({settings.tts_model}): {error}")
    configure_queue(settings).launch(
        share=settings.share, server_name=settings.host, server_port=settings.port, mcp_server=settings.mcp
    )


if __name__ == "__main__":
    main()
