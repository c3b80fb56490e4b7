"""ModelConfig is the one source of the model's fields: config.model is derived from it, nothing is dropped on
the way, and every field changes the model it builds."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import pytest

from lm import config as config_lib
from lm.models import config as model_config
from lm.models import families
from lm.models.config import ModelConfig


def test_config_model_has_exactly_the_model_fields_and_defaults():
    section = config_lib.default_config().model
    assert sorted(section) == sorted(model_config.field_names())
    for field in dataclasses.fields(ModelConfig):
        assert section[field.name] == field.default, field.name
    with pytest.raises(TypeError):  # a placeholder keeps the field's type: an int field takes no string
        section.num_layers = "six"


def test_roles_are_the_architecture_a_pretrained_model_fixes_and_what_a_resume_may_change():
    assert model_config.ARCHITECTURE == tuple(
        "family num_layers num_encoder_layers num_heads num_kv_heads d_model head_dim attention_scale d_ff "
        "vocab_size max_len causal position rope_base rotary_fraction rope_scaling rope_scaling_factor "
        "rope_low_freq_factor rope_high_freq_factor rope_original_max_len sliding_window "
        "relative_attention_num_buckets relative_attention_max_distance mlp "
        "gelu_approximate norm norm_eps norm_position embedding_norm embedding_scale type_vocab_size use_bias "
        "qkv_bias parallel_residual tie_embeddings scale_head_input share_embeddings final_norm rnn_attention "
        "mlm_transform head_bias".split()
    )
    assert model_config.HOW == ("remat", "attention")


def test_from_config_refuses_unknown_and_unresolved_fields():
    c = config_lib.resolve(config_lib.default_config(), vocab_size=20)
    assert ModelConfig.from_config(c.model).d_model == 64  # size tiny
    c.model.unlock()
    c.model.moe_experts = 8  # a field the model does not have: refused, not dropped
    with pytest.raises(ValueError, match="does not know: \\['moe_experts'\\]"):
        ModelConfig.from_config(c.model)
    with pytest.raises(ValueError, match="config.model.num_layers is unset"):
        ModelConfig.from_config(config_lib.default_config().model)


def test_built_directly_a_model_is_a_decoder_pooled_at_its_last_token():
    config = ModelConfig(vocab_size=5, num_layers=1, num_heads=1, d_model=4, d_ff=4, max_len=4)
    assert config.causal and config.pooling == "last"
    assert ModelConfig(vocab_size=5, num_layers=1, num_heads=1, d_model=4, d_ff=4, max_len=4, causal=False).pooling == (
        "first"
    )


# field -> (another value, the base it is changed from when the default base cannot show it).
# The base is rotary so that rope_base shows; max_len shows only with learned positions.
ENCODER_DECODER = {"family": "encoder_decoder"}
GRU = {"family": "gru", "position": "learned"}  # the base's rotary is a Transformer option
LLAMA3 = {"rope_scaling": "llama3", "rope_scaling_factor": 8.0, "rope_original_max_len": 64}
RELATIVE = {"position": "relative"}
CHANGES = {
    "size": ("tiny", {}),
    "family": ("encoder_decoder", {}),
    "num_encoder_layers": (3, ENCODER_DECODER),
    "share_embeddings": (False, ENCODER_DECODER),
    "final_norm": (False, {}),
    "embedding_scale": (True, {}),
    "rnn_attention": (False, GRU),
    "teacher_forcing_ratio": (0.5, GRU),
    "num_layers": (3, {}),
    "num_heads": (4, {}),
    "num_kv_heads": (1, {}),
    "d_model": (64, {}),
    "head_dim": (8, {}),
    "attention_scale": (False, {}),
    "d_ff": (64, {}),
    "vocab_size": (30, {}),
    "max_len": (16, {"position": "learned"}),
    "causal": (True, {}),
    "position": ("learned", {}),
    "rope_base": (500.0, {}),
    "rotary_fraction": (0.5, {}),
    "rope_scaling": ("llama3", {"rope_scaling_factor": 8.0, "rope_original_max_len": 64}),
    "rope_low_freq_factor": (2.0, LLAMA3),
    "rope_high_freq_factor": (8.0, LLAMA3),
    "rope_original_max_len": (128, LLAMA3),
    "rope_scaling_factor": (4.0, {}),
    "sliding_window": (2, {"causal": True}),
    "relative_attention_num_buckets": (16, RELATIVE),
    "relative_attention_max_distance": (64, RELATIVE),
    "qkv_bias": (False, {}),
    "parallel_residual": (True, {}),
    "mlp": ("swiglu", {}),
    "gelu_approximate": (False, {}),
    "norm": ("rmsnorm", {}),
    "norm_eps": (1e-3, {}),
    "norm_position": ("post", {}),
    "embedding_norm": (True, {}),
    "type_vocab_size": (2, {}),
    "use_bias": (False, {}),
    "tie_embeddings": (False, {}),
    "scale_head_input": (True, {}),
    "mlm_transform": (True, {}),
    "head_bias": (True, {}),
    "pooling": ("mean", {}),
    "pooler_dense": (False, {}),
    "num_classes": (5, {}),
    "dropout": (0.1, {}),
    "attention_dropout": (0.1, {}),
    "embedding_dropout": (0.1, {}),
    "init_std": (0.05, {}),
    "scale_residual_init": (False, {}),
    "dtype": ("bfloat16", {}),
    "scan_layers": (True, {}),
    "remat": ("full", {}),
    "attention": ("xla", {}),
}


def model_signature(overrides: dict) -> tuple[str, ...]:
    """What a config.model builds, as comparable text: the computations (jaxprs, traced, not run) that
    initialise its parameters (their shapes and distributions) and that run its LM and classification
    heads in training mode."""
    c = config_lib.default_config()
    c.objective = "classify"  # either attention direction: a bidirectional base
    c.model.size, c.model.position, c.model.num_classes, c.data.seq_len = "nano", "rotary", 3, 8
    for key, value in overrides.items():
        c.model[key] = value
    if c.model.family and families.get(c.model.family).sourced:  # None: resolved to the objective's
        c.objective = "seq2seq"
    model = families.build(ModelConfig.from_config(config_lib.resolve(c, vocab_size=20).model))
    tokens = jnp.zeros((2, 8), jnp.int32)
    if families.of(model).sourced:
        methods, extra = ("__call__",), {"source": tokens}
        both_heads = lambda module, tokens: module(tokens, source=tokens)  # noqa: E731
    else:
        methods, extra = ("__call__", "classify"), {}
        both_heads = lambda module, tokens: (module(tokens), module.classify(tokens))  # noqa: E731
    init = functools.partial(model.init, method=both_heads)
    params = jax.eval_shape(init, jax.random.PRNGKey(0), tokens)["params"]
    training = dict(deterministic=False, rngs={"dropout": jax.random.PRNGKey(1)}, **extra)
    heads = [
        jax.make_jaxpr(lambda p, m=method: model.apply({"params": p}, tokens, **training, method=m))(params)
        for method in methods
    ]
    return tuple(map(str, [jax.make_jaxpr(init)(jax.random.PRNGKey(0), tokens), *heads]))


def test_every_field_of_config_model_changes_the_model_it_builds():
    assert set(CHANGES) == set(model_config.field_names())  # a new field needs a line here
    base_signatures = {}
    for field, (value, base) in CHANGES.items():
        key = tuple(sorted(base.items()))
        if key not in base_signatures:
            base_signatures[key] = model_signature(base)
        assert model_signature({**base, field: value}) != base_signatures[key], f"model.{field} changes nothing"


PYTHIA = dict(position="rotary", rotary_fraction=0.25, parallel_residual=True, tie_embeddings=False)
LLAMA = dict(position="rotary", norm="rmsnorm", mlp="swiglu", use_bias=False)
# size -> (vocabulary, the family's options, the parameter count its model card / config.json gives)
PUBLISHED = {
    "pythia-70m": (50304, PYTHIA, 70_426_624),
    "pythia-160m": (50304, PYTHIA, 162_322_944),
    "pythia-410m": (50304, PYTHIA, 405_334_016),
    "pythia-1b": (50304, PYTHIA, 1_011_781_632),
    "smollm-135m": (49152, LLAMA, 134_515_008),
    "smollm-360m": (49152, LLAMA, 361_821_120),
    "qwen2-0.5b": (151936, LLAMA | dict(qkv_bias=True), 494_032_768),
    "tinyllama-1.1b": (32000, LLAMA | dict(tie_embeddings=False), 1_100_048_384),
}


@pytest.mark.parametrize("size", PUBLISHED)
def test_pythia_and_llama_sizes_have_their_published_parameter_counts(size):
    """The shapes (with grouped-query heads) and options give each model's parameter count (from shapes only)."""
    vocab, options, published = PUBLISHED[size]
    c = config_lib.default_config()
    c.model.size, c.model.vocab_size, c.data.seq_len = size, vocab, 2048
    for key, value in options.items():
        c.model[key] = value
    model = families.build(ModelConfig.from_config(config_lib.resolve(c, vocab_size=vocab).model))
    shapes = jax.eval_shape(functools.partial(families.init_params, model), jax.random.key(0))
    assert sum(x.size for x in jax.tree.leaves(shapes)) == published
