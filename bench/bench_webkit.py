"""Typed questions answered aloud in WebKit (Safari's engine): click -> first sound, and whether each answer plays to
its end, beside another checkout in the same run.

Each configuration of `bench_browser.py` is served as it serves it; WebKitGTK's MiniBrowser (Selenium, on Xvfb, as
tests/webkit.py drives it, sound allowed) opens the page afresh for each answer, types a question and clicks Ask.

    python bench/bench_webkit.py --only ours-instant ours-piper --against ../main   # 5 answers each, after 1

A table of medians (max), every figure in bench/results/webkit-<configurations>[-against-<checkout>].json.
"""

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

QUESTIONS = ["Should I get a dog?", "Will it rain tomorrow?", "Is today my lucky day?", "Will I pass my exam?"]
ANSWER_S = 20  # an answer not sounding, or not ended, this long after the click or its first sound failed


def ask(driver, url: str, question: str) -> dict:
    """One typed question in a fresh page: seconds from the click to the first sound, and whether it ended."""
    from webkit import WebKitPage

    page = WebKitPage(driver, url, listen_now=True)
    page.ask_in_writing(question)
    try:
        page.wait_for("return window.audioLog.some((e) => e.type === 'sounding')", ANSWER_S)
    except Exception:
        return {"sounded": False, "ended": False}
    try:
        page.wait_until_answers_ended(1, ANSWER_S)
    except Exception:
        pass
    log = page.audio_log()
    click = next(e["t"] for e in log if e["type"] == "click")
    sound = next(e for e in log if e["type"] == "sounding")
    return {
        "sounded": True,
        "first_sound_s": round((sound["t"] - click) / 1000, 3),
        "ended": any(e["type"] == "ended" for e in log),
        "last_position_s": max(e["time"] for e in log if e["type"] != "click"),
    }


def run_config(name: str, checkout: Path, driver, answers: int, warmup: int) -> list[dict]:
    """Serve `name` from `checkout` (with its own .venv) and ask it `warmup` + `answers` questions."""
    from bench_browser import free_port, wait_for_server

    port, script = free_port(), checkout / "bench" / "bench_browser.py"
    python = sys.executable if checkout == ROOT else checkout / ".venv/bin/python"
    server = subprocess.Popen(
        [python, script, "--serve", name, "--port", str(port), "--segments-log", "/dev/null"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results = []
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for_server(url, server)
        for i in range(warmup + answers):
            result = dict(ask(driver, url, QUESTIONS[i % len(QUESTIONS)]), question=QUESTIONS[i % len(QUESTIONS)])
            print(name, checkout.name, "warm-up" if i < warmup else "", json.dumps(result), file=sys.stderr)
            results += [result] if i >= warmup else []
    finally:
        server.terminate()
        server.wait(timeout=30)
    return results


def main() -> None:
    from bench_browser import CONFIGS
    from results import save
    from webkit import PLAYS_ON_ITS_OWN, launch_webkit, virtual_display

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--only", nargs="+", choices=list(CONFIGS), default=["ours-instant", "ours-piper"])
    parser.add_argument("--against", type=Path, help="another checkout whose configurations run beside these")
    args = parser.parse_args()
    checkouts = [ROOT, *([args.against.resolve()] if args.against else [])]
    summary = {}
    with virtual_display() as display:
        driver = launch_webkit(display, PLAYS_ON_ITS_OWN)
        try:
            for name in args.only:
                for checkout in checkouts:
                    results = run_config(name, checkout, driver, args.answers, args.warmup)
                    sounds = [r["first_sound_s"] for r in results if r["sounded"]]
                    summary[name + ("" if checkout == ROOT else f"@{checkout.name}")] = {
                        "first_sound_s": {"median": statistics.median(sounds), "max": max(sounds)} if sounds else None,
                        "sounded": sum(r["sounded"] for r in results),
                        "ended": sum(r["ended"] for r in results),
                        "asked": len(results),
                        "answers": results,
                    }
        finally:
            driver.quit()
    print("| configuration | click -> first sound (s) | sounded | played to its end |\n|---|---:|---:|---:|")
    for label, s in summary.items():
        name, _, checkout = label.partition("@")
        sound = f"{s['first_sound_s']['median']:.2f} ({s['first_sound_s']['max']:.2f})" if s["first_sound_s"] else "-"
        where = f" ({checkout})" if checkout else ""
        print(f"| {CONFIGS[name][3]}{where} | {sound} | {s['sounded']}/{s['asked']} | {s['ended']}/{s['asked']} |")
    against = f"-against-{args.against.resolve().name}" if args.against else ""
    save(f"webkit-{'-'.join(args.only)}{against}", summary)


if __name__ == "__main__":
    main()
