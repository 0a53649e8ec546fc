"""Whether the newest model was trained from exactly today's inputs, so that
`make run` and `make test` train only when the data, domain, config, the
pipeline's code or the pinned packages changed.

Rasa's own fingerprint does not cover our pipeline components' code, and in
practice it retrained on every start; this one is a plain hash of the files
a model depends on, kept beside the model as `<model>.inputs`.

    python -m scripts.model_inputs check   # exit 0: up to date, 1: train
    python -m scripts.model_inputs record  # after training: remember the inputs
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
#: What a trained model depends on (relative to the checkout).
#: The knowledge base texts, municipality profiles, SMS keywords and the safety
#: patterns (data/safety, compiled when the model is loaded) are read at
#: run time and do not need a new model.
INPUTS = ("config.yml", "domain.yml", "data/nlu", "data/rules", "data/responses.yml",
          "data/language_names.yml", "nlu", "requirements.lock")


def digest(root: Path = ROOT) -> str:
    h = hashlib.sha256()
    for name in INPUTS:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            if "__pycache__" in f.parts or f.suffix == ".pyc":
                continue
            h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def newest_model(models: Path = MODELS) -> Path | None:
    found = sorted(models.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def up_to_date(root: Path = ROOT, models: Path = MODELS) -> bool:
    model = newest_model(models)
    if model is None:
        return False
    recorded = model.with_name(model.name.removesuffix(".tar.gz") + ".inputs")
    return recorded.exists() and recorded.read_text().strip() == digest(root)


def record(root: Path = ROOT, models: Path = MODELS) -> Path:
    model = newest_model(models)
    if model is None:
        raise SystemExit("no model in models/ to record")
    recorded = model.with_name(model.name.removesuffix(".tar.gz") + ".inputs")
    recorded.write_text(digest(root) + "\n")
    return recorded


def main(argv: list[str]) -> int:
    if argv[1:] == ["check"]:
        return 0 if up_to_date() else 1
    if argv[1:] == ["record"]:
        record()
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
