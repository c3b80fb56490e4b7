"""lm.models.families: build and init_cache by the family field pick the model and the shape of its decoding cache."""

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
