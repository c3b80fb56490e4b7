"""lm.models.families: build and init_cache by the family field pick the model and the shape of its decoding cache."""

import pathlib
import re

import pytest

from lm.models import families
from lm.models.config import ModelConfig
from lm.models.encoder_decoder import EncoderDecoder
from lm.models.transformer import TransformerLM


def test_the_family_picks_the_model_and_its_cache():
    fields = dict(vocab_size=7, num_layers=2, num_heads=2, d_model=8, d_ff=8, max_len=6)
    decoder = ModelConfig(**fields)
    assert isinstance(families.build(decoder), TransformerLM)
    assert sorted(families.init_cache(decoder, 3, 6)[0]) == ["k", "v"]
    encoder_decoder = ModelConfig(**fields, family="encoder_decoder")
    assert isinstance(families.build(encoder_decoder), EncoderDecoder)
    cache = families.init_cache(encoder_decoder, 3, 6, source_len=5)
    assert len(cache) == 2 and cache[0]["cross_k"].shape == (3, 5, 2, 4) and cache[0]["k"].shape == (3, 6, 2, 4)


def test_each_family_is_a_record_the_library_asks():
    fields = dict(vocab_size=7, num_layers=2, num_heads=2, d_model=8, d_ff=8, max_len=6, num_encoder_layers=1)
    gru = ModelConfig(**fields, family="gru")
    cache = families.init_cache(gru, 3, 6, source_len=5)
    assert {k: v.shape for k, v in cache.items()} == {
        "hidden": (3, 2, 8),
        "states": (3, 5, 8),
        "encoder_valid": (3, 5),
    }
    assert [f.sourced for f in families.FAMILIES.values()] == [False, True, True]
    assert families.get("transformer").describe(ModelConfig(**fields)) == (
        "causal",
        "2",
        "2 heads, d_model 8, d_ff 8, context 6, learned positions",
    )
    assert families.get("gru").describe(gru) == ("gru", "1 + 2", "hidden 8, Luong attention")
    assert families.get("encoder_decoder").describe(ModelConfig(**fields, family="encoder_decoder"))[:2] == (
        "encoder-decoder",
        "1 + 2",
    )
    with pytest.raises(ValueError, match="model.family='rnn' is not a model family: choose one of transformer, enc"):
        families.get("rnn")


def test_no_module_outside_the_families_compares_a_family_name():
    """The library asks a family's record (lm/models/families.py: its rules, FLOPs, module), not its name; a
    Hugging Face converter names the family it writes among the fields it fixes (lm/convert: GPT2_EXPORTS)."""
    root = pathlib.Path(__file__).resolve().parents[2] / "lm"
    comparing = re.compile(r"family (==|!=|in|not in) (?!EXPORTS|objective\.families)")  # the records: fine
    found = sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if path.parent.name != "models" and comparing.search(path.read_text())
    )
    assert found == []
