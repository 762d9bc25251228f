"""The guide's app as written ("Streaming AI Generated Audio"), for the browser benchmark only.

Its `read_response` and `numpy_to_mp3` are copied as they are: the upstream `parler_tts.ParlerTTSStreamer` with 2 s
chunks, one MP3 per chunk normalised by its own peak, a plain streaming `gr.Audio` served by gradio's own playlist.
Three changes, so it can run here: a typed question stands in for the microphone (the benchmark types), the tiny
random-weight model needs `suppress_tokens` and a `max_new_tokens` (or it speaks for 30 s), and `paced_voice`, when
set, speaks instead of Parler-TTS, in the guide's 2 s chunks (the same voice speed as ours in the benchmark).
"""

import io
from threading import Thread

import gradio as gr
import numpy as np
from pydub import AudioSegment
from transformers import set_seed

from parler import parler_tts  # parler-tts on transformers 5 (parler_compat.py): the guide's code needs nothing else

ParlerTTSStreamer = parler_tts().ParlerTTSStreamer
model = tokenizer = paced_voice = None
oracle = None
device = "cpu"
frame_rate = 86
sampling_rate = 44100
max_new_tokens = 4 * 86
generate_kwargs = {}  # what the tiny model needs on top of the guide's arguments


def numpy_to_mp3(audio_array, sampling_rate):
    # Normalize audio_array if it's floating-point
    if np.issubdtype(audio_array.dtype, np.floating):
        max_val = np.max(np.abs(audio_array))
        audio_array = (audio_array / max_val) * 32767  # Normalize to 16-bit range
        audio_array = audio_array.astype(np.int16)

    # Create an audio segment from the numpy array
    audio_segment = AudioSegment(
        audio_array.tobytes(), frame_rate=sampling_rate, sample_width=audio_array.dtype.itemsize, channels=1
    )

    # Export the audio segment to MP3 bytes - use a high bitrate to maximise quality
    mp3_io = io.BytesIO()
    audio_segment.export(mp3_io, format="mp3", bitrate="320k")

    # Get the MP3 bytes
    mp3_bytes = mp3_io.getvalue()
    mp3_io.close()

    return mp3_bytes


def generate_response(question):
    return oracle.answer(question), None, None


def read_response(answer):
    if paced_voice is not None:
        for new_audio in paced_voice.speak(answer):
            yield answer, numpy_to_mp3(new_audio, sampling_rate=paced_voice.sampling_rate)
        return

    play_steps_in_s = 2.0
    play_steps = int(frame_rate * play_steps_in_s)

    description = (
        "Jenny speaks at an average pace with a calm delivery in a very confined sounding environment with clear "
        "audio quality."
    )
    description_tokens = tokenizer(description, return_tensors="pt").to(device)

    streamer = ParlerTTSStreamer(model, device=device, play_steps=play_steps)
    prompt = tokenizer(answer, return_tensors="pt").to(device)

    generation_kwargs = dict(
        input_ids=description_tokens.input_ids,
        prompt_input_ids=prompt.input_ids,
        streamer=streamer,
        do_sample=True,
        temperature=1.0,
        min_new_tokens=10,
        max_new_tokens=max_new_tokens,
        **generate_kwargs,
    )

    set_seed(42)
    thread = Thread(target=model.generate, kwargs=generation_kwargs)
    thread.start()

    for new_audio in streamer:
        print(f"Sample of length: {round(new_audio.shape[0] / sampling_rate, 2)} seconds")
        yield answer, numpy_to_mp3(new_audio, sampling_rate=sampling_rate)


with gr.Blocks() as block:
    gr.HTML("<h1 style='text-align: center;'> Magic 8 Ball 🎱 </h1>")
    with gr.Group():
        with gr.Row():
            audio_out = gr.Audio(label="Spoken Answer", streaming=True, autoplay=True)
            answer = gr.Textbox(label="Answer")
            state = gr.State()
        with gr.Row():
            question = gr.Textbox(label="Or type your question")
            ask_button = gr.Button("Ask")
    ask_button.click(generate_response, question, [state, answer, audio_out]).then(
        fn=read_response, inputs=state, outputs=[answer, audio_out]
    )
