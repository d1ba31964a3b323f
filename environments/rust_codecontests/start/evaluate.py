"""Run your scaffold (solve.py) on the validation problems and judge it like the scorer does.

    python evaluate.py [--limit N] [--jobs J] [--only ID,ID]

The model is the one the scorer uses (REBENCH_MODEL_URL, REBENCH_MODEL_NAME, REBENCH_MODEL_API_KEY).
Each program is compiled and run on the problem's public and hidden tests by harness.py, the same
harness as the scorer's. Prints a verdict per problem, the fraction solved and the tokens used.
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import harness
import solve as scaffold
from model_client import ModelClient

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N problems")
    parser.add_argument("--jobs", type=int, default=2, help="problems at a time")
    parser.add_argument("--only", default="", help="comma-separated problem ids")
    args = parser.parse_args()
    problems = json.loads((HERE / "problems" / "validation.json").read_text())
    if args.only:
        problems = [p for p in problems if p["id"] in args.only.split(",")]
    problems = problems[: args.limit]
    model = ModelClient.from_env()
    started = time.monotonic()

    def one(problem: dict) -> tuple[str, str]:
        visible = {k: v for k, v in problem.items() if k != "hidden_tests"}
        try:
            source = scaffold.solve(visible, model)
        except Exception:
            return problem["id"], "solve raised: " + traceback.format_exc(limit=2).strip().splitlines()[-1]
        tests = problem["public_tests"] + problem["hidden_tests"]
        j = harness.judge(source, tests, problem["time_limit_s"], problem["memory_mb"])
        return problem["id"], j.verdict + (f" ({j.passed}/{j.total} tests)" if j.verdict != "compile error" else "")

    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        results = list(pool.map(one, problems))
    for pid, verdict in results:
        print(f"{pid:24} {verdict}")
    solved = sum(v == "accepted" or v.startswith("accepted ") for _, v in results)
    print(
        f"\nsolved {solved}/{len(results)} = {solved / max(len(results), 1):.3f} in {time.monotonic() - started:.0f} s"
    )
    print(f"tokens: {model.usage}; sandbox: {harness.sandbox()[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
