"""fix_embedding at cpu scale, through real sessions and the real scorer subprocess."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from environments import tiny_gpt
from environments.base import DATA_DIR
from environments.fix_embedding import settings
from environments.fix_embedding.reference.repair import assignment
from environments.fix_embedding.settings import SCALES, START_TOLERANCE, files
from environments.registry import environment_ids, load_environment
from environments.text_corpus import build_corpus
from session.session import Session

LARGE = tiny_gpt.GPTConfig(**SCALES["cpu"]["large"])
ENV = load_environment("fix_embedding")
ORIGINAL = DATA_DIR / "fix_embedding" / files("cpu")["original"]


def test_start_scores_about_0_and_reference_about_1_on_cpu_scale(home: Path) -> None:
    with Session.create(home, "fix_embedding", scale="cpu", kind="agent") as s:
        assert s.calibration.calibration is not None
        start = s.call("score").structured
        assert start["valid"], start
        load_environment("fix_embedding").install_reference(s.workspace, "cpu")
        reference = s.call("score").structured
        assert reference["valid"], reference
    assert abs(start["normalized"]) <= 0.02, start
    assert 0.98 <= reference["normalized"] <= 1.02, reference
    assert start["message"]["loss"] > 5 > 2 > reference["message"]["loss"]  # nats per byte
    assert reference["best_normalized"] == reference["normalized"]  # aggregation min


def _bad_files(workspace: Path) -> dict[str, tuple[object, str]]:
    """name -> (what to save as fixed_model.pt, a phrase its reason must contain)."""
    good = torch.load(workspace / "large_model.pt", weights_only=True)
    small = torch.load(workspace / "small_model.pt", weights_only=True)
    extra = {**good, "lm_head.weight": good["wte.weight"].clone()}
    missing = {k: v for k, v in good.items() if k != "ln_f.bias"}
    wider = {**good, "wpe.weight": torch.zeros(LARGE.block_size * 2, LARGE.n_embd)}
    nan = {**good, "h.0.mlp.c_fc.weight": torch.full_like(good["h.0.mlp.c_fc.weight"], float("nan"))}
    ints = {**good, "ln_f.weight": torch.ones(LARGE.n_embd, dtype=torch.int64)}
    return {
        "small model": (small, "missing keys"),
        "extra key": (extra, "unexpected keys ['lm_head.weight']"),
        "missing key": (missing, "missing keys ['ln_f.bias']"),
        "wrong shape": (wider, "wpe.weight has shape (256, 128), expected (128, 128)"),
        "non-finite": (nan, "non-finite"),
        "integer tensor": (ints, "dtype torch.int64"),
        "not a dict": ([good["wte.weight"]], "expected a state dict"),
    }


def test_each_difference_of_architecture_is_named(home: Path) -> None:
    """The scorer's architecture check, on each kind of wrong file (in-process: it is a pure function)."""
    with Session.create(home, "fix_embedding", scale="cpu", kind="agent", hold=False) as s:
        bad = _bad_files(s.workspace)
    for name, (obj, phrase) in bad.items():
        problem = tiny_gpt.check_state(obj, LARGE)
        assert problem is not None and phrase in problem, (name, problem)


def test_files_of_another_architecture_are_invalid_with_a_reason(home: Path) -> None:
    with Session.create(home, "fix_embedding", scale="cpu", kind="agent") as s:
        target = s.workspace / "fixed_model.pt"
        obj, phrase = _bad_files(s.workspace)["small model"]
        torch.save(obj, target)
        result = s.call("score").structured
        assert not result["valid"] and phrase in result["message"]["error"], result["message"]
        # A pickle that would run code is refused by weights_only, never executed.
        marker = s.workspace / "pwned"
        target.write_bytes(pickle.dumps(_RunsCode(str(marker))))
        result = s.call("score").structured
        assert not result["valid"] and "cannot be loaded" in result["message"]["error"]
        assert not marker.exists()
        target.unlink()
        result = s.call("score").structured
        assert not result["valid"] and "missing" in result["message"]["error"]


class _RunsCode:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_validation_text_is_private_and_absent_from_the_workspace(home: Path) -> None:
    corpus = build_corpus()
    with Session.create(home, "fix_embedding", scale="cpu", kind="agent", hold=False) as s:
        files = {p.name: p.read_bytes() for p in s.workspace.rglob("*") if p.is_file() and ".git" not in p.parts}
        assert {"large_model.pt", "small_model.pt", "fixed_model.pt", "model.py", "train.bin", "check.py"} <= set(files)
        assert files["train.bin"] == corpus.train
        assert (s.paths.env_private / "validation.bin").read_bytes() == corpus.validation
    # Slices of the validation text that the training text lacks appear in no workspace file.
    v = corpus.validation
    probes = [v[i : i + 120] for i in range(0, len(v) - 120, len(v) // 40)]
    probes = [p for p in probes if p not in corpus.train]
    assert len(probes) >= 20
    for name, data in files.items():
        assert not any(p in data for p in probes), name


@pytest.mark.parametrize("scale", ["cpu"])
def test_workspace_check_script_agrees_with_the_scorer(home: Path, scale: str) -> None:
    import subprocess
    import sys

    with Session.create(home, "fix_embedding", scale=scale, kind="agent", hold=False) as s:
        load_environment("fix_embedding").install_reference(s.workspace, scale)
        out = subprocess.run([sys.executable, "check.py"], cwd=s.workspace, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and "architecture ok" in out.stdout, out.stdout + out.stderr
        torch.save(torch.load(s.workspace / "small_model.pt", weights_only=True), s.workspace / "fixed_model.pt")
        out = subprocess.run([sys.executable, "check.py"], cwd=s.workspace, capture_output=True, text=True, timeout=120)
        assert out.returncode == 1 and "INVALID" in out.stdout


# -- the permutation is a per-session secret ------------------------------------------------


def _permutation(s: Session) -> dict:
    return json.loads((s.paths.env_private / "permutation.json").read_text())


def _wte(path: Path) -> torch.Tensor:
    return torch.load(path, map_location="cpu", weights_only=True)["wte.weight"]


def test_each_session_gets_its_own_secret_permutation_of_the_shipped_original(home: Path) -> None:
    original = torch.load(ORIGINAL, weights_only=True)
    meta = json.loads((DATA_DIR / "fix_embedding" / files("cpu")["meta"]).read_text())
    drawn = []
    for _ in range(2):
        with Session.create(home, "fix_embedding", scale="cpu", kind="agent", hold=False) as s:
            secret = _permutation(s)
            perm = secret["permutation"]
            assert sorted(perm) == list(range(LARGE.vocab_size))
            assert sum(i == p for i, p in enumerate(perm)) < 10  # a random permutation has ~1 fixed point
            corrupted = torch.load(s.workspace / "large_model.pt", weights_only=True)
            assert torch.equal(corrupted["wte.weight"], original["wte.weight"][torch.tensor(perm)])
            assert all(torch.equal(corrupted[k], original[k]) for k in original if k != "wte.weight")
            assert (s.workspace / "fixed_model.pt").read_bytes() == (s.workspace / "large_model.pt").read_bytes()
            # Its damage is typical: the calibration's start holds for every session.
            assert abs(secret["start_raw"] - meta["start_raw"]) <= START_TOLERANCE
            # Nothing in the workspace holds the permutation, or the original embedding in its order.
            text = json.dumps(perm)[1:-1].encode()
            ordered = original["wte.weight"].numpy().tobytes()
            for path in s.workspace.rglob("*"):
                if path.is_file():
                    assert text not in path.read_bytes() and ordered not in path.read_bytes(), path
            drawn.append(perm)
    assert drawn[0] != drawn[1]


def _readable_files() -> list[Path]:
    """Every file of the source checkout's data/ and environments/ a participant can read: all
    but the protected paths of every environment."""
    protected = {p.resolve() for env_id in environment_ids() for p in load_environment(env_id).protected_paths()}
    out = []
    for root in (DATA_DIR, DATA_DIR.parent / "environments"):
        for path in root.rglob("*"):
            if path.is_file() and not any(q == path or q in path.parents for q in protected):
                out.append(path)
    return out


def test_no_readable_file_holds_the_original_embedding_or_a_seed_that_makes_it() -> None:
    protected = {p.resolve() for p in ENV.protected_paths()}
    assert ORIGINAL.resolve().parent in protected
    assert (ENV.folder / "reference").resolve() in protected  # the reference repair's code, too
    assert (ENV.folder / "reference" / "repair.py").is_file() and not (ENV.folder / "repair.py").exists()
    rows = _wte(ORIGINAL)
    needles = [r.numpy().tobytes() for r in rows] + [r.float().numpy().tobytes() for r in rows]
    files_read = _readable_files()
    assert any(p.name == "small_cpu.pt" for p in files_read) and any(p.name == "meta_cpu.json" for p in files_read)
    for path in files_read:
        data = path.read_bytes()
        assert not any(n in data for n in needles), f"{path} holds a row of the original embedding"
    assert not list((DATA_DIR / "fix_embedding").glob("large_corrupted_*"))
    meta = json.loads((DATA_DIR / "fix_embedding" / files("cpu")["meta"]).read_text())
    assert not {"reference_rows", "source_rows", "large_seed"} & set(meta)
    # No seed of the corruption or of the large model's training is in the settings.
    assert not hasattr(settings, "PERMUTATION_SEED")
    assert all("seed" not in p["large_train"] for p in SCALES.values())


def _match_to_init(corrupted_wte: torch.Tensor, seed: int) -> list[int]:
    """The init-correlation attack: match the corrupted rows to a seeded initialisation's rows
    (with a public training seed, 213 of 258 rows of the first build came back this way).
    Returns rows: fixed wte[b] = corrupted wte[rows[b]]."""
    torch.manual_seed(seed)
    init = tiny_gpt.GPT(LARGE).state_dict()["wte.weight"]
    a = torch.nn.functional.normalize(corrupted_wte.float(), dim=1)
    b = torch.nn.functional.normalize(init, dim=1)
    col = assignment(-(a @ b.T).numpy())  # corrupted row i looks like the init row of byte col[i]
    rows = [0] * LARGE.vocab_size
    for i, byte in enumerate(col):
        rows[int(byte)] = i
    return rows


def test_rebuilding_the_original_from_what_the_participant_reads_fails(home: Path) -> None:
    """The attacks that worked on the fixed corruption: invert the public permutation seed; match
    the rows to the initialisation of a public training seed. Both now score like the start."""
    with Session.create(home, "fix_embedding", scale="cpu", kind="agent") as s:
        truth = _permutation(s)["permutation"]
        corrupted = torch.load(s.workspace / "large_model.pt", weights_only=True)
        start = s.call("score").structured
        assert start["valid"] and abs(start["normalized"]) <= 0.02, start
        assert abs(start["raw"] - _permutation(s)["start_raw"]) < 1e-4  # the draw measured what the scorer does
        old = torch.randperm(LARGE.vocab_size, generator=torch.Generator().manual_seed(1234))  # the old seed
        attempts = {"old permutation seed": torch.argsort(old).tolist()}
        for seed in (0, 1, 2, 1234):  # every seed the source has used
            attempts[f"init of seed {seed}"] = _match_to_init(corrupted["wte.weight"], seed)
        inverse = torch.argsort(torch.tensor(truth)).tolist()  # the exact repair
        for name, rows in attempts.items():
            right = sum(int(r == i) for r, i in zip(rows, inverse, strict=True))
            assert right <= 15, (name, right)  # chance is 1 of 258
        for name in ("old permutation seed", "init of seed 1"):
            fixed = {**corrupted, "wte.weight": corrupted["wte.weight"][torch.tensor(attempts[name])].clone()}
            torch.save(fixed, s.workspace / "fixed_model.pt")
            result = s.call("score").structured
            # Another random permutation: its loss varies (normalized sd ~0.06), far from the original's.
            assert result["valid"] and result["normalized"] <= 0.25 and result["message"]["loss"] > 5, (name, result)


def test_the_reference_is_the_repairs_rows_in_the_originals_terms() -> None:
    reference = json.loads((DATA_DIR / "fix_embedding" / files("cpu")["reference"]).read_text())
    source = reference["source_rows"]
    assert sorted(source) == list(range(LARGE.vocab_size))
    assert reference["rows_correct"] == sum(int(b == r) for b, r in enumerate(source))
    assert 60 <= reference["rows_correct"] < LARGE.vocab_size  # the frequent bytes, not all of them
