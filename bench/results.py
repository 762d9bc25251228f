"""Where the benchmarks keep their figures: one JSON file per script in bench/results/, which the docs cite."""

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def save(name: str, summary: dict) -> None:
    """Print the summary as one JSON line (the script's last) and write it to bench/results/`name`.json."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))
