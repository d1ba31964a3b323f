"""Entry point of the participant's part of scoring: `python -I -B -m environments.participant_main ...`.

Runs as the participant (their account, cgroup and network when isolated), so the code it
calls cannot read the session's private data or write the scorer's verdict: it sees only the
public inputs the harness wrote into EXCHANGE/inputs.json, and leaves its results under
EXCHANGE/outputs for the scorer to judge. `-B` because the participant may not write the
scorer's bytecode cache; `-I` keeps the workspace off sys.path until the environment puts it there.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from environments.registry import load_environment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="participant_main")
    parser.add_argument("env_id")
    parser.add_argument("scale")
    parser.add_argument("workspace", type=Path)
    parser.add_argument("exchange", type=Path)
    args = parser.parse_args(argv)
    env = load_environment(args.env_id)
    inputs = json.loads((args.exchange / "inputs.json").read_text())
    env.run_participant_part(args.workspace.resolve(), inputs, args.exchange / "outputs", args.scale)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
