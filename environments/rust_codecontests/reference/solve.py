"""Reference scaffold: sample several programs, keep the first that passes the public examples.

(The participant never sees this file.) It asks the model for N_SAMPLES candidates (each with its
own seed), compiles each distinct one with the local harness and runs it on the problem's public
examples; the first that passes all of them is returned, else the first that compiles, else the
first candidate.
"""

from __future__ import annotations

import harness

N_SAMPLES = 8

PROMPT = """Solve this competitive programming problem in Rust (edition 2021, standard library only).
Read all of standard input and write the answer to standard output. Use 64-bit integers where values
can be large, and make the program fast.

# {title}

{statement}

## Examples
{examples}

Answer with the complete program in one ```rust code block."""


def _examples(problem: dict) -> str:
    return "\n".join(f"Input:\n```\n{t['input']}```\nOutput:\n```\n{t['output']}```" for t in problem["public_tests"])


def solve(problem: dict, model) -> str:
    content = PROMPT.format(examples=_examples(problem), **problem)
    messages = [{"role": "user", "content": content}]
    seen: dict[str, harness.Judgement] = {}
    candidates = []
    for k in range(N_SAMPLES):
        source = harness.extract_code(model.chat(messages, temperature=1.0, max_tokens=2048, seed=k))
        candidates.append(source)
        if source in seen:
            continue
        seen[source] = j = harness.judge(source, problem["public_tests"], problem["time_limit_s"], problem["memory_mb"])
        if j.accepted:
            return source
    compiling = [s for s in candidates if seen[s].verdict != "compile error"]
    return (compiling or candidates)[0]
