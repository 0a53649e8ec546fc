"""The real Argos loading and translation code, run on a tiny package built
here (SentencePiece + a 1-layer CTranslate2 transformer with random weights):
it cannot translate well, so the tests check the machinery, not the words."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from caseworkers.translate import Translator, UnsafeArchive, split_sentences

SENTENCES = ["hei hvordan har du det", "jeg trenger en lege", "hvor er nav kontoret", "takk for hjelpen",
             "barnet mitt er sykt", "vi har fått et brev", "kan du hjelpe meg", "god morgen alle sammen"]


def build_package(tmp: Path, source: str, target: str) -> Path:
    import ctranslate2
    import sentencepiece as spm
    from ctranslate2.specs import transformer_spec

    folder = tmp / f"translate-{source}_{target}"
    (folder / "model").mkdir(parents=True)
    corpus = tmp / f"corpus-{source}{target}.txt"
    corpus.write_text("\n".join(SENTENCES * 3), encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(folder / "sentencepiece"), vocab_size=60,
                                   hard_vocab_limit=False, model_type="unigram", minloglevel=2)
    sp = spm.SentencePieceProcessor(model_file=str(folder / "sentencepiece.model"))
    vocab = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    vocab = ["<blank>", "<s>", "</s>"] + [v for v in vocab if v not in ("<unk>", "<s>", "</s>")] + ["<unk>"]
    d, ffn, rng = 8, 16, np.random.default_rng(0)
    spec = transformer_spec.TransformerSpec.from_config((1, 1), 2)

    v = len(vocab)
    enc, dec = spec.encoder, spec.decoder
    enc.embeddings[0].weight = rng.standard_normal((v, d)).astype(np.float32) * 0.1
    dec.embeddings.weight = rng.standard_normal((v, d)).astype(np.float32) * 0.1
    dec.projection.weight = rng.standard_normal((v, d)).astype(np.float32) * 0.1
    for norm in (enc.layer_norm, dec.layer_norm):
        norm.gamma, norm.beta = np.ones(d, np.float32), np.zeros(d, np.float32)
    layers = [(enc.layer[0], False), (dec.layer[0], True)]
    for layer, is_decoder in layers:
        blocks = [layer.self_attention, layer.ffn] + ([layer.attention] if is_decoder else [])
        for block in blocks:
            block.layer_norm.gamma, block.layer_norm.beta = np.ones(d, np.float32), np.zeros(d, np.float32)
        layer.self_attention.linear[0].weight = rng.standard_normal((3 * d, d)).astype(np.float32) * 0.1
        layer.self_attention.linear[1].weight = rng.standard_normal((d, d)).astype(np.float32) * 0.1
        layer.ffn.linear_0.weight = rng.standard_normal((ffn, d)).astype(np.float32) * 0.1
        layer.ffn.linear_1.weight = rng.standard_normal((d, ffn)).astype(np.float32) * 0.1
        if is_decoder:
            layer.attention.linear[0].weight = rng.standard_normal((d, d)).astype(np.float32) * 0.1
            layer.attention.linear[1].weight = rng.standard_normal((2 * d, d)).astype(np.float32) * 0.1
            layer.attention.linear[2].weight = rng.standard_normal((d, d)).astype(np.float32) * 0.1
    spec.register_source_vocabulary(vocab)
    spec.register_target_vocabulary(vocab)
    spec.validate()
    spec.save(str(folder / "model"))
    assert ctranslate2.contains_model(str(folder / "model"))
    (folder / "metadata.json").write_text(json.dumps({
        "package_version": "0.1", "argos_version": "1.9", "from_code": source, "from_name": source,
        "to_code": target, "to_name": target, "type": "translate"}), encoding="utf-8")
    archive = tmp / f"{source}_{target}.argosmodel"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in folder.rglob("*"):
            zf.write(path, path.relative_to(tmp))
    return archive


def test_installs_a_package_and_translates_offline(tmp_path: Path) -> None:
    translator = Translator(tmp_path / "packages")
    translator.install(build_package(tmp_path / "build", "nb", "ar"))
    assert translator.pairs() == {("nb", "ar")}
    out = translator.translate("Hei, hvordan har du det? Jeg trenger en lege.", "nb", "ar")
    assert isinstance(out, str)
    assert translator.translate("", "nb", "ar") == ""
    assert translator.translate("hei", "nb", "nb") == "hei"


def test_no_package_means_no_translation_and_pivot_through_english(tmp_path: Path) -> None:
    translator = Translator(tmp_path / "packages")
    assert translator.translate("hei", "nb", "so") is None
    translator.install(build_package(tmp_path / "b1", "so", "en"))
    translator.install(build_package(tmp_path / "b2", "en", "nb"))
    assert isinstance(translator.translate("waxaan u baahanahay dhakhtar", "so", "nb"), str)


def test_unsafe_or_broken_archives_are_refused(tmp_path: Path) -> None:
    evil = tmp_path / "evil.argosmodel"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../outside/metadata.json", "{}")
    translator = Translator(tmp_path / "packages")
    with pytest.raises(UnsafeArchive):
        translator.install(evil)
    not_zip = tmp_path / "x.argosmodel"
    not_zip.write_text("nope")
    with pytest.raises(UnsafeArchive):
        translator.install(not_zip)
    assert not (tmp_path / "outside").exists()


def test_sentences_are_split_offline() -> None:
    assert split_sentences("Hei. Hvordan går det? Bra!\nTakk") == ["Hei.", "Hvordan går det?", "Bra!", "Takk"]
    assert split_sentences("ሰላም። ከመይ ኣለኹም") == ["ሰላም።", "ከመይ ኣለኹም"]
