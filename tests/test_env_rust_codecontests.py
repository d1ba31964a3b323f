"""rust_codecontests: the sandboxed harness with real rustc, the scripted model server, and real sessions."""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest

from environments.base import DATA_DIR
from environments.registry import load_environment
from environments.rust_codecontests import harness
from environments.rust_codecontests.scripted_server import make_server
from session.session import Session

ENV = "rust_codecontests"


def _rustc() -> str | None:
    try:
        return harness.find_rustc()
    except harness.RustcMissing:
        return None


pytestmark = pytest.mark.skipif(_rustc() is None, reason="rustc not found (PATH, ~/.cargo/bin or REBENCH_RUSTC)")

SUM = """use std::io::Read;
fn main() {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s).unwrap();
    let t: i64 = s.split_whitespace().map(|x| x.parse::<i64>().unwrap()).sum();
    println!("{}", t);
}
"""
TESTS = [{"input": "1 2 3\n", "output": "6\n"}, {"input": "-4 4 10\n", "output": " 10 "}]


def _group_alive(pgid_hint: str) -> list[str]:
    """Processes whose command line mentions `pgid_hint` (our test binaries' folder prefix)."""
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if pgid_hint in cmd:
                found.append(f"{d.name}: {cmd}")
    return found


# -- the harness ---------------------------------------------------------------------------


def test_correct_wrong_and_uncompilable_programs(tmp_path: Path) -> None:
    ok = harness.judge(SUM, TESTS, workdir=tmp_path)
    assert ok.accepted and ok.passed == 2, ok
    wrong = harness.judge(SUM.replace('"{}", t', '"{}", t + 1'), TESTS, workdir=tmp_path)
    assert wrong.verdict == "wrong answer" and wrong.passed == 0, wrong
    broken = harness.judge(SUM.replace("let t: i64", 'let t: i64 = "x"; let u: i64'), TESTS, workdir=tmp_path)
    assert broken.verdict == "compile error" and "error" in broken.compile_error, broken
    assert not list(tmp_path.glob("rust-judge-*"))  # every temporary folder is removed


def test_a_program_that_loops_forever_is_killed_at_its_time_limit(tmp_path: Path) -> None:
    looping = 'fn main() { let mut x: u64 = 1; loop { x = x.wrapping_mul(3); if x == 0 { println!("{}", x); } } }'
    # A duration no other process on the machine uses (an operator's `sleep 300` once failed this).
    duration = f"{300 + os.getpid() % 1000 / 1000 + time.time_ns() % 997 / 10**6:.6f}"
    forking = (
        'fn main() { for _ in 0..4 { let _ = std::process::Command::new("/bin/sleep").arg("DURATION").spawn(); }'
        " loop { std::thread::yield_now(); } }"
    ).replace("DURATION", duration)
    for source in (looping, forking):
        started = time.monotonic()
        j = harness.judge(source, [{"input": "", "output": "1"}], time_limit_s=0.5, workdir=tmp_path)
        assert j.verdict == "time limit", j
        assert time.monotonic() - started < 60  # not the 300 s a survivor would live (rustc included)
    # Killed with its group at once; reaped within moments even on a busy machine (a survivor would
    # live its 300 s).
    deadline = time.monotonic() + 5
    while _group_alive(f"sleep {duration}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _group_alive(f"sleep {duration}"), "a child of the judged program outlived it"


def test_a_program_that_allocates_without_bound_fails_at_its_memory_limit(tmp_path: Path) -> None:
    source = "fn main() { let mut v: Vec<Vec<u8>> = Vec::new(); loop { v.push(vec![1u8; 1 << 20]); } }"
    j = harness.judge(source, [{"input": "", "output": "1"}], time_limit_s=5, memory_mb=64, workdir=tmp_path)
    assert j.verdict == "runtime error", j
    assert j.tests[0]["seconds"] < 5, j  # stopped by the address-space cap, not by the clock


def test_a_program_cannot_open_network_connections(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    source = (
        "use std::net::TcpStream; use std::time::Duration;\n"
        "fn main() {\n"
        f'    let local = TcpStream::connect("127.0.0.1:{port}").is_ok();\n'
        '    let far = "1.1.1.1:80".parse().unwrap();\n'
        "    let outside = TcpStream::connect_timeout(&far, Duration::from_secs(1)).is_ok();\n"
        '    println!("{} {}", local, outside);\n'
        "}\n"
    )
    try:
        j = harness.judge(source, [{"input": "", "output": "false false"}], time_limit_s=3, workdir=tmp_path)
        listener.settimeout(0.2)
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()
    if "network" not in harness.sandbox()[1]:
        pytest.skip(f"no network isolation on this machine: {harness.sandbox()[1]}")
    assert j.accepted, j


def test_every_shipped_problem_has_tests_and_a_sample_of_solutions_passes_them(tmp_path: Path) -> None:
    validation = json.loads((DATA_DIR / ENV / "validation.json").read_text())
    heldout = json.loads((DATA_DIR / ENV / "reference" / "heldout.json").read_text())
    solutions = json.loads((DATA_DIR / ENV / "reference" / "solutions.json").read_text())
    assert len(validation) >= 30 and len(heldout) >= 30
    assert not {p["id"] for p in validation} & {p["id"] for p in heldout}
    for p in validation + heldout:
        assert 1 <= len(p["public_tests"]) <= 2 and 3 <= len(p["hidden_tests"]) <= 6, p["id"]
        assert p["id"] in solutions
    sample = random.Random(0).sample(validation, 2) + random.Random(1).sample(heldout, 2)
    for p in sample:
        j = harness.judge(
            solutions[p["id"]], p["public_tests"] + p["hidden_tests"], p["time_limit_s"], workdir=tmp_path
        )
        assert j.accepted, (p["id"], j)


# -- sessions with the scripted model ------------------------------------------------------------


def test_start_scores_about_0_and_reference_about_1_with_the_scripted_model(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fresh server: without a seed it answers by how often it was asked, as calibration's first run saw it.
    server = make_server()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("REBENCH_MODEL_URL", f"http://127.0.0.1:{server.server_address[1]}/v1")
    monkeypatch.setenv("REBENCH_MODEL_NAME", "scripted")
    # The `test` scale (4 held-out problems, calibrated and shipped like cpu's) keeps the suite short.
    with Session.create(home, ENV, scale="test", kind="agent") as s:
        assert s.calibration.calibrated and s.calibration.model == "scripted", s.calibration
        heldout = json.loads((DATA_DIR / ENV / "reference" / "heldout.json").read_text())
        texts = "\n".join(p.read_text(errors="replace") for p in s.workspace.rglob("*") if p.is_file())
        assert not [p["id"] for p in heldout if p["statement"] in texts or p["title"] in texts]
        start = s.call("score").structured
        assert start["valid"], start
        load_environment(ENV).install_reference(s.workspace, "test")
        reference = s.call("score").structured
        assert reference["valid"], reference
    server.shutdown()
    server.server_close()
    assert start["normalized"] <= 0.25, start
    assert 0.75 <= reference["normalized"] <= 1.3, reference
    assert reference["best_normalized"] == reference["normalized"]
    # A weak model: the reference's sampling and filtering solve some problems, not all, as RE-Bench's.
    assert start["raw"] <= 0.25 and 0.0 < reference["raw"] < 1.0, (start, reference)
    assert set(reference["message"]["verdicts"]) - {"accepted"}, reference["message"]


def test_token_use_reported_by_the_scorer_is_what_the_server_counted(home: Path, model_server, model_env) -> None:
    before = dict(model_server.model.stats)
    with Session.create(home, ENV, scale="test", kind="agent") as s:
        result = s.call("score").structured
    assert result["valid"], result
    after = model_server.model.stats
    tokens = result["message"]["tokens"]
    assert tokens["requests"] == after["requests"] - before["requests"] == 4
    assert tokens["prompt_tokens"] == after["prompt_tokens"] - before["prompt_tokens"] > 0
    assert tokens["completion_tokens"] == after["completion_tokens"] - before["completion_tokens"] > 0


def test_a_solve_that_raises_or_hangs_fails_those_problems_only(home: Path, model_env: str) -> None:
    with Session.create(home, ENV, scale="test", kind="agent") as s:
        reference = (load_environment(ENV).folder / "reference" / "solve.py").read_text()
        body = reference.replace(
            "def solve(problem: dict, model) -> str:\n",
            "def solve(problem: dict, model) -> str:\n"
            "    import time\n"
            "    if problem['id'] == PROBLEMS[0]:\n        raise RuntimeError('boom')\n"
            "    if problem['id'] == PROBLEMS[1]:\n        time.sleep(3600)\n",
        )
        ids = [p["id"] for p in json.loads((DATA_DIR / ENV / "reference" / "heldout.json").read_text())]
        body = body.replace("import harness\n", f"import harness\n\nPROBLEMS = {ids[:2]!r}\n", 1)
        (s.workspace / "solve.py").write_text(body)
        result = s.call("score").structured
    assert result["valid"], result
    verdicts = result["message"]["verdicts"]
    assert verdicts.pop("solve raised") == 1 and verdicts.pop("solve timed out") == 1, result
    # The other two were solved and judged as usual (right or not: the stand-in model is weak).
    assert sum(verdicts.values()) == 2 and not [v for v in verdicts if v.startswith(("solve", "no solution"))], result
    assert result["raw"] == pytest.approx(verdicts.get("accepted", 0) / 4)


def test_missing_solve_or_missing_model_is_invalid_with_a_reason(
    home: Path, model_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Session.create(home, ENV, scale="test", kind="agent") as s:
        (s.workspace / "solve.py").unlink()
        missing = s.call("score").structured
    assert not missing["valid"] and "solve.py" in missing["message"]["error"], missing
    monkeypatch.setenv("REBENCH_MODEL_URL", "http://127.0.0.1:9/v1")  # the discard port: nothing listens
    with Session.create(home, ENV, scale="test", kind="agent") as s:
        unreachable = s.call("score").structured
    assert not unreachable["valid"] and "unreachable" in unreachable["message"]["error"], unreachable
    monkeypatch.delenv("REBENCH_MODEL_URL")
    with Session.create(home, ENV, scale="test", kind="agent") as s:
        unset = s.call("score").structured
    assert not unset["valid"] and "REBENCH_MODEL_URL" in unset["message"]["error"], unset


READS = """
fn main() {{
    // Readable: spin until the time limit; unreadable: print nothing (a wrong answer).
    if std::fs::read_to_string("{path}").is_ok() {{ loop {{}} }}
}}
"""
EMBEDS = 'const TESTS: &str = include_str!("{path}");\nfn main() {{ print!("{{}}", TESTS.len()); }}\n'


def test_a_program_reaches_no_file_of_the_machine_at_compile_or_run_time(tmp_path: Path) -> None:
    """The judge runs the participant's programs as the scorer, whose account reads the hidden tests:
    a program that reads them when it runs, or embeds them when it compiles, finds nothing."""
    secret = Path(tempfile.mkdtemp(prefix="rust-secret-")) / "heldout.json"
    secret.write_text('{"hidden": "tests"}')
    os.chmod(secret.parent, 0o755)
    os.chmod(secret, 0o644)  # readable by anyone, as the checkout's copy is
    try:
        if "a root of its own" not in harness.sandbox()[1]:
            pytest.skip(f"no sandbox here: {harness.sandbox()[1]}")
        for path in (secret, DATA_DIR / "rust_codecontests" / "reference" / "heldout.json"):
            ran = harness.judge(
                READS.format(path=path), [{"input": "", "output": "x"}], time_limit_s=1, workdir=tmp_path
            )
            assert ran.verdict == "wrong answer", (path, ran)
            embedded = harness.judge(EMBEDS.format(path=path), [{"input": "", "output": "x"}], workdir=tmp_path)
            assert embedded.verdict == "compile error" and "couldn't read" in embedded.compile_error, embedded
    finally:
        shutil.rmtree(secret.parent, ignore_errors=True)
