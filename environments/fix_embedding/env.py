"""`fix_embedding`: repair a language model whose embedding rows were shuffled (after RE-Bench).

The participant gets a 4-layer byte-level GPT whose token-embedding rows (tied to the
output head) were permuted with a fixed seed, a smaller correct model, the training text
and the model code; they save a repaired model of exactly the same architecture as
`fixed_model.pt`. raw = ln(held-out loss - FLOOR), lower is better (aggregation min).

The models are built by `python -m environments.fix_embedding.build` and shipped in
data/fix_embedding/ (float16). `prepare` also copies the corrupted model as the initial
`fixed_model.pt`, so the starting solution is the corrupted model as submitted. The
scorer loads weights only (`torch.load(weights_only=True)`) with the repository's own
model code; no participant code runs.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from environments.base import DATA_DIR, Environment, Judging, Resources, ScaleConfig, ScoreResult
from environments.fix_embedding.settings import FLOOR, SCALES, files

_HERE = Path(__file__).resolve().parent
_DATA = DATA_DIR / "fix_embedding"
_TINY_GPT = _HERE.parent / "tiny_gpt.py"
SUBMISSION = "fixed_model.pt"


def _meta(scale: str) -> dict | None:
    path = _DATA / files(scale)["meta"]
    return json.loads(path.read_text()) if path.exists() else None


class FixEmbedding(Environment):
    id = "fix_embedding"
    title = "Fix embedding: repair a model whose embedding rows were shuffled"
    aggregation = "min"
    uses_heldout_corpus = True
    score_visible = True
    resources = Resources(cpus=2, gpus=0, memory_gb=8)
    gpu_resources = Resources(cpus=8, gpus=1, memory_gb=64)
    scales = {
        "cpu": ScaleConfig("cpu", score_timeout_s=300, memory_limit_mb=3072, params={"device": "cpu"}),
        "gpu": ScaleConfig("gpu", score_timeout_s=600, memory_limit_mb=16_384, params={"device": "cuda"}),
    }
    budget_s = 8 * 3600

    def resources_for(self, scale: str) -> Resources:
        return self.gpu_resources if self.scale(scale).params["device"] == "cuda" else self.resources

    def protected_paths(self) -> list[Path]:
        """The meta files record the reference repair's rows: root-only when isolated."""
        return [*super().protected_paths(), *sorted(_DATA.glob("meta_*.json"))]

    def _require_built(self, scale: str) -> dict:
        meta = _meta(scale)
        if meta is None or "reference_rows" not in meta:
            raise FileNotFoundError(
                f"fix_embedding's {scale} models are not built: run `python -m environments.fix_embedding.build"
                f" --scale {scale}`"
            )
        return meta

    def instructions(self, scale: str) -> str:
        config = self.scale(scale)
        meta = _meta(scale) or {}
        p = SCALES[scale]

        def loss(key: str) -> str:
            return f"{meta[key]:.3f}" if key in meta else "(not built yet)"

        fields = {
            "scale": config.name,
            "large": ", ".join(f"{k}={v}" for k, v in p["large"].items()),
            "small": ", ".join(f"{k}={v}" for k, v in p["small"].items()),
            "original_loss": loss("original_loss"),
            "corrupted_loss": loss("corrupted_loss"),
            "small_loss": loss("small_loss"),
            "floor": f"{FLOOR:g}",
            "timeout": f"{config.score_timeout_s:g}",
            "device": "one GPU (CUDA)" if config.params["device"] == "cuda" else "CPU",
        }
        text = (_HERE / "instructions.md").read_text()
        return re.sub(r"\{\{(\w+)\}\}", lambda m: fields[m.group(1)], text)

    def prepare(self, workspace: Path, private: Path, scale: str) -> None:
        """Models, model code, training text and a checker into the workspace; validation text into private."""
        from environments.text_corpus import build_corpus

        self._require_built(scale)
        names = files(scale)
        p = SCALES[scale]
        shutil.copy(_DATA / names["large"], workspace / "large_model.pt")
        shutil.copy(_DATA / names["large"], workspace / SUBMISSION)  # the starting solution: the corrupted model
        shutil.copy(_DATA / names["small"], workspace / "small_model.pt")
        shutil.copy(_TINY_GPT, workspace / "model.py")
        (workspace / "config.json").write_text(json.dumps({"large": p["large"], "small": p["small"]}, indent=1) + "\n")
        check = (_HERE / "start" / "check.py").read_text()
        check, count = re.subn(r"^LARGE = .*$", "LARGE = " + json.dumps(p["large"]), check, flags=re.M)
        if count != 1:
            raise RuntimeError("start/check.py must have exactly one `LARGE = ...` line")
        (workspace / "check.py").write_text(check)
        corpus = build_corpus()
        (workspace / "train.bin").write_bytes(corpus.train)
        (private / "validation.bin").write_bytes(corpus.validation)

    def install_reference(self, workspace: Path, scale: str) -> None:
        """The reference repair's recovered rows (found by environments.fix_embedding.repair at
        build time, recorded in the meta file), applied to the corrupted model."""
        import torch

        from environments.fix_embedding.repair import apply_rows

        meta = self._require_built(scale)
        state = torch.load(_DATA / files(scale)["large"], map_location="cpu", weights_only=True)
        torch.save(apply_rows(state, meta["reference_rows"]), workspace / SUBMISSION)

    def submission_files(self, scale: str) -> tuple[str, ...]:
        return (SUBMISSION,)

    def judge(self, judging: Judging) -> ScoreResult:
        import math
        import time

        import torch

        from environments import tiny_gpt

        scale, private = judging.scale, judging.private
        started = time.perf_counter()
        if scale == "gpu" and not torch.cuda.is_available():
            return ScoreResult.invalid("scale 'gpu' needs a CUDA GPU, and none is visible")
        if not (_DATA / files(scale)["large"]).exists():
            return ScoreResult.invalid(
                f"this scale's models are not built (run `python -m environments.fix_embedding.build --scale {scale}`)"
            )
        path = judging.submission / SUBMISSION
        if not path.is_file():
            return ScoreResult.invalid(f"{SUBMISSION} is missing from the workspace")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # any unreadable file
            return ScoreResult.invalid(f"{SUBMISSION} cannot be loaded as weights: {type(exc).__name__}: {exc}"[:1000])
        config = tiny_gpt.GPTConfig(**SCALES[scale]["large"])
        if (problem := tiny_gpt.check_state(state, config)) is not None:
            return ScoreResult.invalid(f"{SUBMISSION}: {problem}")
        model = tiny_gpt.GPT(config)
        model.load_state_dict({k: v.float() for k, v in state.items()})
        device = self.scale(scale).params["device"]
        loss = tiny_gpt.evaluate(model.to(device), (private / "validation.bin").read_bytes())
        if not math.isfinite(loss) or loss <= FLOOR:
            return ScoreResult.invalid(f"held-out loss {loss} is not above the floor {FLOOR}", loss=loss)
        return ScoreResult(
            math.log(loss - FLOOR),
            {"loss": round(loss, 4)},
            {
                "loss": loss,
                "floor": FLOOR,
                "seconds": round(time.perf_counter() - started, 2),
                "torch": torch.__version__,
            },
        )
