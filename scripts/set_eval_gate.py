"""Rewrite eval/thresholds.json (the CI gate of tests/test_eval_gate.py) from a `qa eval --json` run
of the test splits:  .venv/bin/qa eval --json eval/out/eval.json && .venv/bin/python scripts/set_eval_gate.py eval/out/eval.json

Each floor is the measured figure less about two questions' worth (2 / the questions the figure
counts, at least 0.03); each ceiling is as much above; passage length may grow 60 characters.
One borderline question flipping, or a float that differs on another CPU, then does not fail
CI, while a real regression does.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

GATE = Path(__file__).resolve().parent.parent / "eval" / "thresholds.json"
FLOORS = {"has_ans": "answerable", "first_sentence": "answerable", "no_ans": "unanswerable", "overall": "n",
          "hit_at_3": "answerable"}
CEILINGS = {"false_abstain": "answerable"}
KEPT = ("has_ans", "first_sentence", "no_ans", "false_abstain", "overall", "passage_chars", "hit_at_3", "mrr")
CHARS_SLACK = 60


def slack(count: int) -> float:
    return max(0.03, 2 / max(count, 1))


def limits(metrics: dict) -> dict:
    floors = {name: math.floor(100 * max(0.0, metrics[name] - slack(metrics[counted]))) / 100
              for name, counted in FLOORS.items() if metrics.get(name) is not None}
    ceilings = {name: math.ceil(100 * min(1.0, metrics[name] + slack(metrics[counted]))) / 100
                for name, counted in CEILINGS.items() if metrics.get(name) is not None}
    ceilings["passage_chars"] = math.ceil(metrics["passage_chars"] + CHARS_SLACK)
    measured = {name: round(metrics[name], 4) for name in KEPT if metrics.get(name) is not None}
    return {"measured": measured, "floors": floors, "ceilings": ceilings}


def main(path: str) -> int:
    try:
        results = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        print(f"set_eval_gate.py: cannot read {path} ({exc}): give the file `qa eval --json OUT` wrote.", file=sys.stderr)
        return 2
    gate = json.loads(GATE.read_text(encoding="utf-8"))
    tested = [r for r in results if r["split"] == "test"]
    if not tested:
        print(f"{path} holds no test-split results: run `qa eval --json OUT` without --split.", file=sys.stderr)
        return 2
    gate["sets"] = {r["name"]: limits(r["metrics"]) for r in tested}
    GATE.write_text(json.dumps(gate, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {GATE} for {', '.join(gate['sets'])}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """argparse, so that --help prints the usage (it was once read as the JSON file's name)."""
    parser = argparse.ArgumentParser(prog="set_eval_gate.py", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1].strip(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", metavar="EVAL_JSON",
                        help="the output of `qa eval --json OUT` over the test splits (no --split, no --set)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main(parse_args().results))
