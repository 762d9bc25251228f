"""Soak: many answers through one running app, sampling its memory and disk, to show that nothing accumulates.

`python app.py` runs as its own process with the CPU voice (Piper), its own temp folder (so gradio's cache is its
alone), a loopback Inference API (tests/inference_server.py: a different answer for every question) and a short
cache age.
Every sixth answer is a spoken question through the page's own event (upload, /respond_aloud, the HLS stream
fetched as a player does); the others are typed questions through /ask (the MP3 fetched). Every 50
answers it samples the app's resident memory (RSS) and the bytes in its temp folder (gradio's cache included).

    python bench/soak.py            # 500 answers through /ask and 100 spoken questions
    python bench/soak.py --quick    # 50 and 10

Prints a table, saves bench/soak.png (memory and disk against answers) and, as its last line, one JSON object.
Targets: no failures; from the sample at 50 answers to the end, memory grows at most 50 MB and disk at most 5 MB.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urljoin

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import write_wav  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402
from inference_server import InferenceServer  # noqa: E402
from results import save  # noqa: E402

SAMPLE_EVERY = 50
SPOKEN_EVERY = 6  # one answer in six is a spoken question: 100 of 600
ANSWERS_PER_SESSION = 25  # a new browser session (gradio client) every so many answers
TARGETS = {"memory_growth_mb": 50.0, "disk_growth_mb": 5.0}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def disk_mb(folder: Path) -> float:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 1e6


def serve_app(temp: Path, inference: InferenceServer, voice: str, cache_max_age_s: int, log) -> tuple:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "MAGIC8_", "GRADIO_"))}
    env.update(TMPDIR=str(temp), HF_HUB_OFFLINE="0", PYTHONUNBUFFERED="1")
    command = [
        sys.executable,
        "app.py",
        f"--voice={voice}",
        f"--asr-model={inference.url}/asr",
        f"--llm-model={inference.url}/llm",
        "--host=127.0.0.1",
        f"--port={port}",
        f"--cache-max-age-s={cache_max_age_s}",
        "--questions-per-minute=1000000",  # one client asks every question: no quota in the way
        "--owner-calls-per-day=1000000",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    started = time.monotonic()
    while time.monotonic() - started < 300:
        if server.poll() is not None:
            raise RuntimeError(f"the app exited with {server.returncode}")
        try:
            httpx.get(url, timeout=1)
            return server, url
        except httpx.TransportError:
            time.sleep(0.25)
    raise RuntimeError("the app did not start within 300 s")


def ask_in_writing(client: Client, question: str) -> None:
    answer, audio = client.predict(question, api_name="/ask")
    assert answer.endswith(question), answer
    mp3 = httpx.get(audio["url"], timeout=60).content
    assert mp3[:3] == b"ID3" and len(mp3) > 1000, len(mp3)


def ask_aloud(client: Client, question_wav: str, question: str) -> None:
    answer, audio, *_ = client.predict(handle_file(question_wav), api_name="/respond_aloud")
    assert answer.endswith(question), answer
    playlist = httpx.get(audio["url"], timeout=60).text
    segments = [line for line in playlist.splitlines() if line and not line.startswith("#")]
    data = b"".join(httpx.get(urljoin(audio["url"], name), timeout=60).content for name in segments)
    assert len(data) > 1000, len(data)


def plot(samples: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    answers = [s["answers"] for s in samples]
    figure, memory = plt.subplots(figsize=(8, 4.5))
    memory.plot(answers, [s["rss_mb"] for s in samples], "o-", color="tab:blue", label="memory (RSS)")
    memory.set_xlabel("answers")
    memory.set_ylabel("memory, MB", color="tab:blue")
    disk = memory.twinx()
    disk.plot(answers, [s["disk_mb"] for s in samples], "s--", color="tab:orange", label="disk (temp + cache)")
    disk.set_ylabel("disk, MB", color="tab:orange")
    memory.set_ylim(bottom=0)
    disk.set_ylim(bottom=0)
    memory.set_title(title)
    figure.legend(loc="center right", bbox_to_anchor=(0.85, 0.3))
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="50 answers through /ask and 10 spoken questions")
    parser.add_argument("--voice", default="piper", help="the app's --voice (default piper, the CPU voice)")
    parser.add_argument(
        "--cache-max-age-s",
        type=int,
        default=10,
        help="the app's --cache-max-age-s (default 10: short, so that "
        "the cache reaches its steady size within the run)",
    )
    parser.add_argument("--plot", type=Path, default=ROOT / "bench" / "soak.png")
    args = parser.parse_args()
    total = 60 if args.quick else 600

    inference = InferenceServer().start()
    inference.answer_for = lambda question: f"The stars will tell you, {question}"
    with tempfile.TemporaryDirectory(prefix="magic8-soak-") as folder:
        temp = Path(folder) / "tmp"
        temp.mkdir()
        question_wav = str(write_wav(Path(folder) / "question.wav", 1.5))  # outside the app's temp folder
        log_path = Path(folder) / "app.log"
        with log_path.open("w") as log:
            server, url = serve_app(temp, inference, args.voice, args.cache_max_age_s, log)
        samples, failures, errors, client = [], 0, [], None
        started = time.monotonic()
        try:
            samples.append(dict(answers=0, rss_mb=round(rss_mb(server.pid), 1), disk_mb=disk_mb(temp), seconds=0.0))
            for i in range(total):
                if i % ANSWERS_PER_SESSION == 0:
                    client = Client(url, verbose=False, download_files=False, httpx_kwargs={"timeout": 120})
                spoken = i % SPOKEN_EVERY == SPOKEN_EVERY - 1
                question = f"Question number {i}?"
                try:
                    if spoken:
                        inference.default_transcript = question
                        ask_aloud(client, question_wav, question)
                    else:
                        ask_in_writing(client, question)
                except Exception as error:  # a failure is counted and reported, and the soak goes on
                    failures += 1
                    errors.append(f"answer {i}: {type(error).__name__}: {error}"[:300])
                if (i + 1) % SAMPLE_EVERY == 0 or i + 1 == total:
                    sample = dict(
                        answers=i + 1,
                        rss_mb=round(rss_mb(server.pid), 1),
                        disk_mb=round(disk_mb(temp), 2),
                        seconds=round(time.monotonic() - started, 1),
                    )
                    samples.append(sample)
                    print(json.dumps(sample), flush=True)
        finally:
            server.terminate()
            server.wait(timeout=60)
            inference.stop()
        app_log = log_path.read_text()

    spoken = total // SPOKEN_EVERY
    after_first = next(s for s in samples if s["answers"] == SAMPLE_EVERY)
    memory_growth = max(s["rss_mb"] for s in samples) - after_first["rss_mb"]
    disk_growth = max(s["disk_mb"] for s in samples) - after_first["disk_mb"]
    title = f"{total - spoken} answers through /ask, {spoken} spoken questions ({args.voice} voice)"
    plot(samples, args.plot, title)

    print(f"\n{title}, cache max age {args.cache_max_age_s} s, {samples[-1]['seconds']:.0f} s in all")
    print(f"{'answers':>8} {'memory MB':>10} {'disk MB':>8} {'seconds':>8}")
    for s in samples:
        print(f"{s['answers']:>8} {s['rss_mb']:>10.1f} {s['disk_mb']:>8.2f} {s['seconds']:>8.1f}")
    print(f"failures: {failures}")
    for error in errors[:5]:
        print("  ", error)
    if "Traceback" in app_log:
        print("the app logged a traceback:", app_log[app_log.index("Traceback") :][:1000])
    result = dict(
        ask_answers=total - spoken,
        spoken_answers=spoken,
        voice=args.voice,
        cache_max_age_s=args.cache_max_age_s,
        failures=failures,
        memory_growth_mb=round(memory_growth, 1),
        disk_growth_mb=round(disk_growth, 2),
        targets=TARGETS,
        met=failures == 0 and memory_growth <= TARGETS["memory_growth_mb"] and disk_growth <= TARGETS["disk_growth_mb"],
        plot=str(args.plot),
        samples=samples,
    )
    save("soak", result)


if __name__ == "__main__":
    main()
