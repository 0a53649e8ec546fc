"""A model is trained again exactly when what it is made from changed."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from scripts.model_inputs import INPUTS, ROOT, digest, record, up_to_date


def checkout(tmp: Path) -> Path:
    root = tmp / "repo"
    for name in INPUTS:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, root / name)
    (root / "data" / "knowledge").mkdir(parents=True)
    (root / "data" / "knowledge" / "answers.yml").write_text("x: 1\n")
    return root


def test_no_change_no_training_and_each_kind_of_change_trains(tmp_path: Path) -> None:
    root, models = checkout(tmp_path), tmp_path / "models"
    models.mkdir()
    assert not up_to_date(root, models)  # no model at all
    (models / "20260101-000000-a.tar.gz").write_bytes(b"model")
    assert not up_to_date(root, models)  # a model whose inputs are unknown
    record(root, models)
    assert up_to_date(root, models)
    (root / "data" / "knowledge" / "answers.yml").write_text("x: 2\n")  # read at run time
    assert up_to_date(root, models)
    for changed in ("data/nlu/ti.yml", "config.yml", "nlu/components.py", "requirements.lock"):
        before = (root / changed).read_bytes()
        (root / changed).write_bytes(before + b"\n# changed\n")
        assert not up_to_date(root, models), changed
        (root / changed).write_bytes(before)
        assert up_to_date(root, models)


def test_a_newer_model_without_a_record_is_trained_again(tmp_path: Path) -> None:
    root, models = checkout(tmp_path), tmp_path / "models"
    models.mkdir()
    (models / "old.tar.gz").write_bytes(b"model")
    record(root, models)
    newer = models / "new.tar.gz"
    newer.write_bytes(b"model")
    later = time.time() + 5
    os.utime(newer, (later, later))
    assert not up_to_date(root, models)
    assert digest(root) == digest(root)  # stable
