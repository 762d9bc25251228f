"""Benchmark the voices and the local ears side by side, on the same answers, on the CPU.

    python bench/bench_voices.py           # about 15 minutes on 2 shared CPU cores
    python bench/bench_voices.py --quick   # fewer runs, and the tiny Parler-TTS only in the speed table

1. Voices (hibari, Piper, espeak-ng, the tiny random-weight Parler-TTS): time to the first chunk and real-time factor.
   Beside our Piper voice, Piper as its own `synthesize` speaks ("piper-sentences": whole sentences, each
   normalised to full scale), to show what splitting the first clause and one gain change.
2. Local ears (Whisper tiny.en, faster-whisper int8, 1 thread): seconds per spoken question.
3. Speech round trip: each voice speaks the twenty classic answers, the local ears transcribe them, word error rate
   per voice (Piper's target: at most 10 %). Piper speaks differently each time (its noise), so its voices speak the
   answers three times and the rate is their mean, with the range. The tiny Parler-TTS has random weights and
   speaks noise: its rate shows what no speech scores. Then Piper's answers once more, each heard both as spoken
   (PCM) and through the player's AAC stream (gradio's encoder, decoded): what the encoding costs the listener.
4. How each CPU voice sounds, side by side, on the twenty classic answers and eight longer proverbs an LLM might give:
   a predicted MOS (distillmos 0.9.1, 1 to 5: a model's guess at what listeners would score), the words Whisper
   tiny.en gets wrong, the time to the first chunk and the real-time factor, each voice chunking as the app's defaults.
5. Twelve sessions at once through `/ask`, the app served with the Piper voice and the classic oracle: all answered,
   no cross-talk (each spoken answer is transcribed, and the classic answer nearest to what was heard must be its
   own), the slowest request in seconds; once with the GPU voice's concurrency of 1, once as `configure_queue` serves
   a CPU voice (one answer per CPU core at once).

Tables, then as the last line one JSON object.
"""

import argparse
import io
import os
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av  # noqa: E402
import numpy as np  # noqa: E402
from results import save  # noqa: E402

import app  # noqa: E402
from audio_utils import as_streamed  # noqa: E402
from hear import LocalEars, load_question, to_wav  # noqa: E402
from oracle import CLASSIC_ANSWERS  # noqa: E402
from parler import tiny_random_voice  # noqa: E402
from settings import Settings  # noqa: E402
from voices import EspeakVoice, HibariVoice, PiperVoice  # noqa: E402

ANSWERS = (  # the same answers for every voice: a classic one, a clause, a proverb, and a 190-character answer
    "Outlook good.",
    "As I see it, yes.",
    "A watched pot never boils, but a patient cook eats well.",
    "The river does not hurry, yet it reaches the sea. Plant your seeds today, water them with patience, "
    "and the harvest will come when the moon is ready.",
)
QUESTIONS = (
    "Will it rain tomorrow?",
    "Should I learn to play the piano?",
    "Is today my lucky day?",
    "Will my team win the match on Sunday?",
    "Should I get a dog?",
    "Can I finish the marathon in under four hours?",
)
PROVERBS = (  # longer answers, as an LLM oracle gives them (at most oracle.MAX_ANSWER_CHARS)
    "A watched pot never boils, but a patient cook eats well.",
    "The river does not hurry, yet it reaches the sea.",
    "Signs point to yes, but the stars advise patience.",
    "Plant your seeds today; the harvest will come when the moon is ready.",
    "The door you seek opens inward, so stop pushing and listen.",
    "Even the longest night ends with a sunrise, so keep your lantern lit.",
    "Fortune favors the bold, but only after they have checked the weather.",
    "A quiet mind hears the answer that a busy one keeps asking for.",
)
ANSWER_SETS = {"classic": CLASSIC_ANSWERS, "proverbs": PROVERBS}
CPU_VOICES = ("hibari", "piper", "espeak")
SESSIONS = 12
ROUNDS = {"piper": 3, "piper-sentences": 3}  # the other voices speak the same samples every time: one round
ISSUE_WER = {"piper": "2 to 6 %", "espeak": "24 to 29 %"}  # measured when issue 10 was filed (tiny.en, same voices)


class PiperSentences:
    """Piper as its own `synthesize` speaks: one sentence at a time, each normalised to full scale."""

    name = "piper-sentences"

    def __init__(self, piper: PiperVoice):
        self.engine = piper.engine
        self.sampling_rate = piper.sampling_rate

    def speak(self, text: str):
        for sentence in self.engine.synthesize(text):
            yield sentence.audio_float_array


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def edit_distance(reference: list[str], heard: list[str]) -> int:
    """Word-level Levenshtein distance: substitutions, insertions and deletions."""
    row = list(range(len(heard) + 1))
    for i, word in enumerate(reference, 1):
        previous, row[0] = row[0], i
        for j, other in enumerate(heard, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (word != other))
    return row[-1]


def as_question(audio: np.ndarray, rate: int, folder: Path) -> bytes:
    """The audio as the app hears a recording: through `load_question` (16 kHz mono WAV)."""
    path = folder / "recording.wav"
    path.write_bytes(to_wav(audio, rate))
    return load_question(str(path), 30.0)


def time_voice(voice, text: str, runs: int) -> dict:
    """Seconds to the first chunk and real-time factor (seconds to speak / seconds spoken): the best of `runs`."""
    firsts, totals, spoken = [], [], 0.0
    for _ in range(runs):
        start = time.perf_counter()
        first, samples = None, 0
        for chunk in voice.speak(text):
            first = first if first is not None else time.perf_counter() - start
            samples += len(chunk)
        totals.append(time.perf_counter() - start)
        firsts.append(first)
        spoken = samples / voice.sampling_rate
    return {"first_chunk_s": min(firsts), "rtf": min(totals) / spoken, "audio_s": spoken}


def speak_all(voice, text: str) -> np.ndarray:
    return np.concatenate([np.zeros(0, dtype=np.float32), *voice.speak(text)])


def round_trip(voice, ears: LocalEars, folder: Path, rounds: int) -> dict:
    """Word error rate of the local ears on the twenty classic answers spoken by this voice, per round."""
    rates, misheard = [], set()
    total = sum(len(words(answer)) for answer in CLASSIC_ANSWERS)
    for _ in range(rounds):
        errors = 0
        for answer in CLASSIC_ANSWERS:
            heard = ears.transcribe(as_question(speak_all(voice, answer), voice.sampling_rate, folder))
            errors += edit_distance(words(answer), words(heard))
            if words(answer) != words(heard):
                misheard.add(f"{answer!r} -> {heard.strip()!r}")
        rates.append(errors / total)
    return {"wer": float(np.mean(rates)), "wer_range": [min(rates), max(rates)], "misheard": sorted(misheard)}


def decoded_aac(chunks: list[np.ndarray], rate: int) -> np.ndarray:
    """The chunks as the player gets them (one AAC stream), decoded again."""
    data = as_streamed(to_wav(chunk, rate) for chunk in chunks)
    with av.open(io.BytesIO(data), format="aac") as adts:
        return np.concatenate([frame.to_ndarray().reshape(-1) for frame in adts.decode(audio=0)]).astype(np.float32)


def aac_round_trip(voice, ears: LocalEars, folder: Path, rounds: int) -> dict:
    """Word error rate of the local ears on the same spoken classic answers, as PCM and through the AAC stream."""
    errors = {"pcm": 0, "aac": 0}
    for _ in range(rounds):
        for answer in CLASSIC_ANSWERS:
            chunks = list(voice.speak(answer))
            for way, audio in (("pcm", np.concatenate(chunks)), ("aac", decoded_aac(chunks, voice.sampling_rate))):
                errors[way] += edit_distance(
                    words(answer), words(ears.transcribe(as_question(audio, voice.sampling_rate, folder)))
                )
    total = rounds * sum(len(words(answer)) for answer in CLASSIC_ANSWERS)
    return {way: count / total for way, count in errors.items()}


def how_it_sounds(voice, answers: tuple[str, ...], ears: LocalEars, mos_model, folder: Path, runs: int) -> dict:
    """Over `answers`: the mean predicted MOS, the words the local ears get wrong, the median time to the first chunk
    (best of `runs` per answer) and the real-time factor (all the time spent speaking over all the audio spoken)."""
    import torch
    from torchaudio.functional import resample

    scores, wrong, misheard, firsts, spent, spoken = [], 0, [], [], 0.0, 0.0
    for answer in answers:
        timing = time_voice(voice, answer, runs)
        firsts.append(timing["first_chunk_s"])
        spent, spoken = spent + timing["rtf"] * timing["audio_s"], spoken + timing["audio_s"]
        audio = speak_all(voice, answer)
        # resampled as distillmos's own file reader does (torchaudio): pydub's resampler, on the ears' way in, has no
        # anti-aliasing filter, and its aliases lower every voice's score (hibari's most)
        with torch.no_grad():
            scores.append(float(mos_model(resample(torch.from_numpy(audio)[None], voice.sampling_rate, 16000))[0]))
        heard = ears.transcribe(as_question(audio, voice.sampling_rate, folder))
        wrong += edit_distance(words(answer), words(heard))
        if words(answer) != words(heard):
            misheard.append(f"{answer!r} -> {heard.strip()!r}")
    return {
        "mos": float(np.mean(scores)),
        "words_wrong": wrong,
        "words": sum(len(words(answer)) for answer in answers),
        "first_chunk_s": float(np.median(firsts)),
        "rtf": spent / spoken,
        "misheard": misheard,
    }


def nearest_answer(heard: str) -> str:
    """The classic answer whose words are closest to what was heard (a misheard word does not make it another)."""
    return min(CLASSIC_ANSWERS, key=lambda answer: edit_distance(words(answer), words(heard)))


def ask_at_once(url: str, ears: LocalEars, folder: Path) -> dict:
    """Twelve sessions ask `/ask` at once; each spoken answer must say its own answer's words."""
    from gradio_client import Client

    clients = [Client(url, verbose=False) for _ in range(SESSIONS)]

    def ask(client_and_question):
        client, question = client_and_question
        start = time.perf_counter()
        answer, mp3 = client.predict(question, api_name="/ask")
        return answer, mp3, time.perf_counter() - start

    start = time.perf_counter()
    with ThreadPoolExecutor(SESSIONS) as pool:
        results = list(pool.map(ask, zip(clients, (QUESTIONS * 2)[:SESSIONS], strict=True)))
    wall_s = time.perf_counter() - start
    answered = sum(answer in CLASSIC_ANSWERS for answer, _, _ in results)
    own_audio = sum(nearest_answer(ears.transcribe(load_question(mp3, 30.0))) == answer for answer, mp3, _ in results)
    return {
        "answered": answered,
        "own_audio": own_audio,
        "slowest_s": max(seconds for _, _, seconds in results),
        "wall_s": wall_s,
    }


def serve_and_ask(settings: Settings, speaking_at_once: int | None, ears: LocalEars, folder: Path) -> dict:
    if speaking_at_once is None:
        url = app.serve(settings, prevent_thread_lock=True, quiet=True)
    else:  # another queue than the app's own, to compare
        app.start(settings)
        app.demo.queue(default_concurrency_limit=speaking_at_once, max_size=app.QUEUE_PER_GPU_SLOT * SESSIONS)
        _, url, _ = app.demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        return ask_at_once(url, ears, folder)
    finally:
        app.demo.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one timing run per answer; tiny Parler-TTS only timed")
    args = parser.parse_args()
    runs = 1 if args.quick else 3
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench_voices_") as folder:
        bench(Path(folder), runs, args.quick, load_before)


def bench(folder: Path, runs: int, quick: bool, load_before: float) -> None:

    start = time.perf_counter()
    voices = {"hibari": HibariVoice()}
    loads = {"hibari": time.perf_counter() - start}
    start = time.perf_counter()
    voices["piper"] = PiperVoice()
    loads["piper"] = time.perf_counter() - start
    voices.update({"piper-sentences": PiperSentences(voices["piper"]), "espeak": EspeakVoice()})
    start = time.perf_counter()
    voices["tiny-parler"] = tiny_random_voice(description="A calm voice.", max_speech_s=1.0)
    loads["tiny-parler"] = time.perf_counter() - start
    start = time.perf_counter()
    ears = LocalEars()
    loads["ears"] = time.perf_counter() - start

    print(f"\n1. Voices on the same answers (best of {runs} runs; the tiny Parler-TTS: 1 run, at most 1 s of audio)")
    print(f"{'answer':<40} {'voice':<16} {'first chunk s':>13} {'rtf':>6} {'audio s':>8}")
    speed = {name: [] for name in voices}
    for text in ANSWERS:
        for name, voice in voices.items():
            timing = time_voice(voice, text, 1 if name == "tiny-parler" else runs)
            speed[name].append(timing)
            print(
                f"{text[:38]:<40} {name:<16} {timing['first_chunk_s']:>13.3f} {timing['rtf']:>6.3f} "
                f"{timing['audio_s']:>8.2f}"
            )

    print("\n2. Local ears (Whisper tiny.en, int8, 1 thread) on questions spoken by Piper")
    print(f"{'question':<48} {'seconds':>8}  heard")
    asr = []
    for question in QUESTIONS:
        wav = as_question(speak_all(voices["piper"], question), voices["piper"].sampling_rate, folder)
        start = time.perf_counter()
        heard = ears.transcribe(wav)
        asr.append({"seconds": time.perf_counter() - start, "ok": words(heard) == words(question)})
        print(f"{question:<48} {asr[-1]['seconds']:>8.2f}  {heard.strip()!r}")

    print("\n3. Speech round trip: the twenty classic answers, spoken, then heard by the local ears")
    trips = {}
    for name, voice in voices.items():
        if quick and name == "tiny-parler":
            continue
        trips[name] = round_trip(voice, ears, folder, ROUNDS.get(name, 1))
    print(f"{'voice':<16} {'WER':>6} {'range':>13}  {'at filing (issue 10)':<21} misheard")
    for name, trip in trips.items():
        low, high = trip["wer_range"]
        shown = "; ".join(trip["misheard"][:4]) + (" ..." if len(trip["misheard"]) > 4 else "")
        print(
            f"{name:<16} {trip['wer']:>6.1%} {f'{low:.1%} to {high:.1%}':>13}  {ISSUE_WER.get(name, '-'):<21} {shown}"
        )

    through_aac = aac_round_trip(voices["piper"], ears, folder, ROUNDS["piper"])
    print(
        f"piper, the same answers as PCM and through the player's AAC stream: {through_aac['pcm']:.1%} and "
        f"{through_aac['aac']:.1%}"
    )

    import distillmos

    mos_model = distillmos.ConvTransformerSQAModel().eval()
    chunking = Settings()  # the app's chunks
    app_chunks = dict(first_chunk_s=chunking.first_chunk_s, chunk_s=chunking.chunk_s)
    cpu_voices = {
        "hibari": HibariVoice(**app_chunks),
        "piper": PiperVoice(**app_chunks),
        "espeak": EspeakVoice(**app_chunks),
    }
    sound = {
        name: {
            kind: how_it_sounds(voice, answers, ears, mos_model, folder, runs) for kind, answers in ANSWER_SETS.items()
        }
        for name, voice in cpu_voices.items()
    }
    print(
        f"\n4. How each voice sounds: the {len(CLASSIC_ANSWERS)} classic answers and {len(PROVERBS)} proverbs; "
        f"predicted MOS (distillmos), words Whisper tiny.en got wrong, first chunk (median, best of {runs}), rtf"
    )
    print(f"{'voice':<8} {'answers':<9} {'MOS':>5} {'words wrong':>12} {'first chunk s':>13} {'rtf':>7}  misheard")
    for name, kinds in sound.items():
        for kind, result in kinds.items():
            wrong = f"{result['words_wrong']} of {result['words']}"
            print(
                f"{name:<8} {kind:<9} {result['mos']:>5.2f} {wrong:>12} {result['first_chunk_s']:>13.3f} "
                f"{result['rtf']:>7.4f}  {'; '.join(result['misheard'])}"
            )

    print(f"\n5. {SESSIONS} sessions at once through /ask (Piper voice, classic oracle)")
    settings = Settings(voice="piper")
    load = {
        "concurrency_1": serve_and_ask(settings, 1, ears, folder),
        "cpu_voice_queue": serve_and_ask(settings, None, ears, folder),
    }
    cpu_queue = f"configure_queue ({os.cpu_count()} at once)"
    print(f"{'queue':<32} {'answered':>8} {'own audio':>9} {'slowest s':>9} {'wall s':>7}")
    for name, shown in (("concurrency_1", "1 at once (the GPU voice's)"), ("cpu_voice_queue", cpu_queue)):
        result = load[name]
        print(
            f"{shown:<32} {result['answered']:>8} {result['own_audio']:>9} {result['slowest_s']:>9.2f} "
            f"{result['wall_s']:>7.2f}"
        )
    load_after = os.getloadavg()[0]
    print(
        f"\nload average (1 min): {load_before:.1f} at the start, {load_after:.1f} at the end; {os.cpu_count()} cores"
    )

    summary = {
        "load_s": {name: round(seconds, 2) for name, seconds in loads.items()},
        "voices": {
            name: {
                "first_chunk_s": [round(t["first_chunk_s"], 3) for t in timings],
                "rtf": [round(t["rtf"], 3) for t in timings],
                "wer": round(trips[name]["wer"], 3) if name in trips else None,
                "wer_range": [round(rate, 3) for rate in trips[name]["wer_range"]] if name in trips else None,
            }
            for name, timings in speed.items()
        },
        "piper_wer_pcm_and_aac": [round(through_aac["pcm"], 3), round(through_aac["aac"], 3)],
        "sound": {
            name: {
                kind: {key: round(value, 4) if isinstance(value, float) else value for key, value in result.items()}
                for kind, result in kinds.items()
            }
            for name, kinds in sound.items()
        },
        "asr_s_per_question": round(float(np.mean([a["seconds"] for a in asr])), 2),
        "asr_questions_heard_exactly": sum(a["ok"] for a in asr),
        "sessions": SESSIONS,
        "cpu_cores": os.cpu_count(),
        "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "ask_at_once": {name: {k: round(v, 2) for k, v in result.items()} for name, result in load.items()},
    }
    save("voices", summary)


if __name__ == "__main__":
    main()
