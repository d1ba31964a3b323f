"""Build the problem files from the problem definitions (deterministic; run from the repository root).

    python environments/rust_codecontests/reference/build.py [--verify]

Writes data/rust_codecontests/validation.json (public and hidden tests: the workspace gets it),
data/rust_codecontests/reference/heldout.json (held out: the scorer's private copy) and
data/rust_codecontests/reference/solutions.json (a correct Rust program per problem, for the
scripted model server and for checking the tests). --verify compiles every Rust solution and runs
it on all of its problem's tests.
"""

from __future__ import annotations

import json
import random
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import problems_a  # noqa: E402
import problems_b  # noqa: E402,F401

DATA = HERE.parents[2] / "data" / "rust_codecontests"
HIDDEN_TESTS = 5
TIME_LIMIT_S = 2.0


def build() -> tuple[list[dict], list[dict], dict[str, str]]:
    validation, heldout, solutions = [], [], {}
    for index, p in enumerate(problems_a.P):
        rng = random.Random(f"rust_codecontests/{p['id']}")
        examples = [{"input": i, "output": p["solve"](i).strip() + "\n"} for i in p["examples"]]
        hidden = []
        while len(hidden) < HIDDEN_TESTS:
            i = p["gen"](rng)
            if i in p["examples"] or any(t["input"] == i for t in hidden):
                continue
            hidden.append({"input": i, "output": p["solve"](i).strip() + "\n"})
        record = {
            "id": p["id"],
            "title": p["title"],
            "statement": p["statement"],
            "time_limit_s": TIME_LIMIT_S,
            "memory_mb": 256,
            "public_tests": examples,
            "hidden_tests": hidden,
        }
        (validation if index % 2 == 0 else heldout).append(record)
        solutions[p["id"]] = p["rust"]
    return validation, heldout, solutions


def verify(problems: list[dict], solutions: dict[str, str]) -> list[str]:
    import harness

    def one(p: dict) -> str | None:
        j = harness.judge(solutions[p["id"]], p["public_tests"] + p["hidden_tests"], p["time_limit_s"])
        return None if j.accepted else f"{p['id']}: {j.verdict} {j.compile_error[:2000]} {j.tests[-1:]}"

    with ThreadPoolExecutor(2) as pool:
        return [r for r in pool.map(one, problems) if r]


def main() -> int:
    validation, heldout, solutions = build()
    ids = [p["id"] for p in validation + heldout]
    assert len(ids) == len(set(ids)), "duplicate problem ids"
    (DATA / "reference").mkdir(parents=True, exist_ok=True)
    dump = {"indent": 1, "sort_keys": False}
    (DATA / "validation.json").write_text(json.dumps(validation, **dump) + "\n")
    (DATA / "reference" / "heldout.json").write_text(json.dumps(heldout, **dump) + "\n")
    (DATA / "reference" / "solutions.json").write_text(json.dumps(solutions, **dump) + "\n")
    print(f"{len(validation)} validation, {len(heldout)} held-out problems written to {DATA}")
    if "--verify" in sys.argv:
        failures = verify(validation + heldout, solutions)
        for f in failures:
            print("FAILED", f)
        print(f"verified {len(ids)} solutions: {len(ids) - len(failures)} pass all their tests")
        return 1 if failures else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
