"""The numpy BERT encoder against sentence-transformers' own published figures."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from bindings.ai.engines.bert_encoder import BertEncoder, bundled_path


@pytest.fixture(scope="module")
def encoder():
    try:
        return BertEncoder(bundled_path())
    except FileNotFoundError as exc:  # .ci/run installs it; say why where it is not
        pytest.skip(str(exc))


def test_similarities_match_sentence_transformers_quickstart(encoder):
    # sbert.net's quickstart, all-MiniLM-L6-v2: 0.6660, 0.1046, 0.1411 (torch, float32)
    texts = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    vectors = encoder.encode(texts).vectors
    similarity = vectors @ vectors.T
    assert similarity[0, 1] == pytest.approx(0.6660, abs=5e-4)
    assert similarity[0, 2] == pytest.approx(0.1046, abs=5e-4)
    assert similarity[1, 2] == pytest.approx(0.1411, abs=5e-4)
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1, 1, 1], abs=1e-5)


def test_a_texts_vector_does_not_depend_on_its_batch(encoder):
    long = "a much longer sentence that makes every other one in the batch padded " * 3
    alone = encoder.encode(["short one"]).vectors[0]
    batched = encoder.encode([long, "short one", "x"], batch=2).vectors
    assert np.allclose(alone, batched[1], atol=1e-5)
    assert encoder.encode([long, "x"]).tokens[1] == 3  # [CLS] x [SEP]


def test_cls_pooling_and_truncation(encoder):
    text = "word " * 1000
    encoded = encoder.encode([text], max_tokens=16)
    assert encoded.tokens == [16]
    assert encoder.encode([text]).tokens == [encoder.max_tokens] == [256]
    mean = encoder.encode(["a cat"]).vectors[0]
    cls = encoder.encode(["a cat"], pooling="cls").vectors[0]
    assert not np.allclose(mean, cls) and np.linalg.norm(cls) == pytest.approx(1, abs=1e-5)


def test_only_bert_folders_load(tmp_path):
    source = bundled_path() if _have_bundled() else None
    if source is None:
        pytest.skip("the bundled weights are not installed")
    folder = tmp_path / "model"
    folder.mkdir()
    config = json.loads((source / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "roberta"}))
    with pytest.raises(ValueError, match="model_type 'roberta' is not bert"):
        BertEncoder(folder)
    shutil.rmtree(folder)
    folder.mkdir()
    with pytest.raises(FileNotFoundError, match=r"config\.json is missing"):
        BertEncoder(folder)


def _have_bundled() -> bool:
    try:
        bundled_path()
    except FileNotFoundError:
        return False
    return True
