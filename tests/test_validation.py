"""Config values checked field by field (lm/validation.py): a bad value names the field and the fix."""

import pytest

from lm import config as config_lib
from lm import validation


@pytest.mark.parametrize(
    "key,value,needle",
    [
        ("model.position", "alibi", "choose one of learned, sinusoidal, rotary, relative"),
        ("model.head_dim", 0, "must be > 0"),
        ("model.relative_attention_num_buckets", 2, "must be >= 4"),
        ("model.relative_attention_max_distance", 8, "must exceed the exact buckets"),
        ("model.rope_scaling", "yarn", "choose one of linear, llama3"),
        ("model.rope_scaling_factor", 0.0, "must be finite and > 0"),
        ("model.rope_low_freq_factor", 4.0, "must be > 0 and < model.rope_high_freq_factor=4.0"),
        ("model.rope_original_max_len", 0, "must be > 0"),
        ("model.sliding_window", -1, "must be >= 0"),
        ("model.size", "huge", "choose one of nano"),
        ("data.batch_size", 0, "must be > 0"),
        ("model.dropout", 1.0, r"must be in \[0, 1\)"),
        ("optim.grad_accum_steps", 3, "must divide"),
        ("data.tokenizer", "word", "choose one of byte"),
        ("data.tokenizer", "hf", "set --config.data.tokenizer_path=DIR"),
        ("data.tokenizer_path", "~/gpt2", "for --config.data.tokenizer=hf"),
        ("data.hf_dataset", "~/owt", "set --config.data.shards=DIR too"),
    ],
)
def test_bad_values_name_the_field_and_the_fix(key, value, needle):
    c = config_lib.default_config()
    section, field = key.split(".")
    c[section][field] = value
    with pytest.raises(ValueError, match=needle) as info:
        validation.validate(c)
    assert key in str(info.value) and "Fix it with --config." in str(info.value)


def test_attention_dropout_needs_the_einsum_attention():
    c = config_lib.default_config()
    c.model.attention, c.model.attention_dropout = "xla", 0.1
    with pytest.raises(ValueError, match="model.attention_dropout.*use model.attention=einsum"):
        validation.validate(c)
    c.model.attention = "einsum"
    validation.validate(c)


def test_unknown_objective_and_packing_outside_classification_are_refused():
    c = config_lib.default_config()
    c.objective = "contrastive"
    with pytest.raises(ValueError, match="objective='contrastive'.*choose one of causal, masked, classify, tag"):
        validation.validate(c)
    c.objective, c.data.pack = "tag", True
    with pytest.raises(ValueError, match="data.pack=True packs texts for objective=classify only"):
        validation.validate(c)


def test_token_shards_and_their_document_mask_are_for_language_models():
    c = config_lib.default_config()
    c.data.document_mask = True
    with pytest.raises(ValueError, match="data.document_mask=True masks the documents of token shards"):
        validation.validate(c)  # no shards
    c.data.shards = "/data/shards"
    validation.validate(c)
    c.objective = "masked"
    with pytest.raises(ValueError, match="for a causal language model"):
        validation.validate(c)
    c.objective, c.data.document_mask = "classify", False
    with pytest.raises(ValueError, match="data.shards='/data/shards' holds token windows .* objective=classify"):
        validation.validate(c)
