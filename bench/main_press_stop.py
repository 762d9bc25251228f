"""Today's main (e3e1e66) press-Stop flow, kept for the voice-to-voice benchmark: the browser records the whole
question, uploads it when the person presses Stop, and `stop_recording` hears it whole, answers and speaks.

The page as main builds it, less what the flow does not use (the typed question, the API's components).
"""

import gradio as gr

import app


def page() -> gr.Blocks:
    with gr.Blocks(title="Magic 8 Ball, main's press-Stop flow") as demo:
        ball = gr.HTML(app.in_the_window(None), css_template=app.BALL_CSS, js_on_load=None)
        heard = gr.HTML(css_template=app.HEARD_CSS, js_on_load=None)
        with gr.Row(equal_height=True):
            audio_out = gr.Audio(label="Spoken Answer", streaming=True, autoplay=True, min_width=320)
            answer = gr.Textbox(label="Answer", min_width=320)
        audio_in = gr.Audio(label="Speak your question", sources=["microphone"], type="filepath")
        audio_in.stop_recording(
            app.respond_aloud,  # main's handler for a recorded question (hear it whole, answer, speak)
            audio_in,
            [answer, audio_out, heard, ball],
            concurrency_id="voice",
            show_progress_on=answer,
        )
    return demo
