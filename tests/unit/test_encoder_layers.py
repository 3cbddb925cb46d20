"""``Encoder(layers=k)``: MiniLM's first k layers, sharing the loaded model's weights (real model)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from embedding.encoder import MODEL_LAYERS, Encoder, load_model, transformer_of

TEXTS = ["@acme my order arrived broken", "how do I reset my acme password?", "lovely day in Porto"]


def test_a_shallow_encoder_equals_the_whole_models_hidden_state_at_that_depth() -> None:
    """Computed independently: the whole model asked for every layer's output, pooled by hand."""
    model = load_model()
    tokenizer, transformer = model.tokenizer, transformer_of(model)
    features = tokenizer(TEXTS, padding=True, truncation=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = transformer(**features, output_hidden_states=True).hidden_states[3].float()
    mask = features["attention_mask"].unsqueeze(-1).float()
    expected = torch.nn.functional.normalize((hidden * mask).sum(dim=1) / mask.sum(dim=1), dim=-1).numpy()
    got = Encoder(layers=3).encode(TEXTS)
    assert np.allclose(got, expected, atol=2e-3), np.abs(got - expected).max()
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_the_whole_model_is_unchanged_by_a_shallow_view() -> None:
    before = Encoder().encode(TEXTS)
    shallow = Encoder(layers=2).encode(TEXTS)
    after = Encoder().encode(TEXTS)  # a new encoder: its own empty cache, the shared model
    assert np.array_equal(before, after)
    assert len(transformer_of(load_model()).encoder.layer) == MODEL_LAYERS
    assert float((before * shallow).sum(axis=1).min()) < 0.99  # a different depth, other vectors
    assert np.array_equal(Encoder(layers=MODEL_LAYERS).encode(TEXTS), before)


@pytest.mark.parametrize("layers", [0, MODEL_LAYERS + 1, -1])
def test_a_depth_outside_the_model_is_refused(layers: int) -> None:
    with pytest.raises(ValueError, match="layers must be in"):
        Encoder(layers=layers)
