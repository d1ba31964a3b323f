"""Your scaffold: turn one problem into a Rust program, using the language model.

The scorer calls `solve(problem, model)` once per held-out problem, in a fresh process with this
folder first on sys.path. `problem` has: id, title, statement, public_tests (a list of
{"input", "output"}), time_limit_s, memory_mb. `model` is a `model_client.ModelClient`:
`model.chat(messages, temperature=..., max_tokens=..., **openai_params)` returns the reply text.
Return the Rust source (one file, edition 2021, std only; it reads stdin and writes stdout).

This starting version asks once and takes the first code block, unchecked.
"""

from __future__ import annotations

import re

PROMPT = """Solve this competitive programming problem in Rust (edition 2021, standard library only).
Read from standard input and write to standard output.

# {title}

{statement}

Answer with the complete program in one ```rust code block."""


def solve(problem: dict, model) -> str:
    messages = [{"role": "user", "content": PROMPT.format(**problem)}]
    reply = model.chat(messages, temperature=0.8, max_tokens=2048)
    blocks = re.findall(r"```[\w+-]*[ \t]*\n(.*?)```", reply, flags=re.S)
    return blocks[0] if blocks else reply
