"""The Llama family in and out: imported Llama (grouped-query attention, rope_theta, linear RoPE scaling),
Qwen2 (QKV biases, tied head) and Mistral (a sliding window shorter than the text) give transformers' logits
and greedy generations; exported models load in transformers with our logits; what the family cannot
express is refused with its name."""

import dataclasses
import json

import numpy as np
import pytest

from lm import convert
from lm.convert import llama
from lm.models.config import ModelConfig
from lm.models.transformer import TransformerLM, init_cache
from tests.convert.references import VOCAB, check_exported, generate_both, logits_both, padded, random_params

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

FAMILY = ("llama_dir", "llama3_dir", "qwen2_dir", "mistral_dir")


@pytest.mark.parametrize("directory", FAMILY)
@pytest.mark.parametrize("lengths, left", [((24, 17, 9), False), ((24, 17, 9), True)])
def test_imported_models_match_transformers_logits(directory, lengths, left, request):
    directory, reference = request.getfixturevalue(directory)
    tokens, valid = padded(1, lengths, 24, left)
    ours, theirs = logits_both(*llama.read(directory), reference, tokens, valid)
    np.testing.assert_allclose(ours[valid], theirs[valid], atol=1e-4)


def test_the_readers_fields_are_each_models_options(llama_dir, llama3_dir, qwen2_dir, mistral_dir):
    directories = (llama_dir, llama3_dir, qwen2_dir, mistral_dir)
    fields = {name: llama.read(d)[0] for name, (d, _) in zip(FAMILY, directories, strict=True)}
    assert fields["llama3_dir"]["rope_scaling"] == "llama3" and fields["llama3_dir"]["rope_original_max_len"] == 64
    assert fields["llama_dir"]["num_kv_heads"] == 2 and fields["llama_dir"]["num_heads"] == 4
    assert fields["llama_dir"]["rope_base"] == 500.0 and fields["llama_dir"]["rope_scaling_factor"] == 2.0
    assert not fields["llama_dir"]["tie_embeddings"] and not fields["llama_dir"]["qkv_bias"]
    assert fields["qwen2_dir"]["qkv_bias"] and fields["qwen2_dir"]["tie_embeddings"]
    assert fields["mistral_dir"]["sliding_window"] == 5 and fields["llama_dir"]["sliding_window"] == 0


@pytest.mark.parametrize("directory", FAMILY)
def test_greedy_generation_equals_transformers_generate(directory, request):
    """Prompts of different lengths, left-padded; Mistral's window (5) is passed long before the end."""
    directory, reference = request.getfixturevalue(directory)
    prompts = [[5, 6, 7, 8, 9, 10, 11], [3, 1], [40, 41, 42, 43]]
    ours, lengths, theirs = generate_both(*llama.read(directory), reference, prompts, 12)
    np.testing.assert_array_equal(ours, theirs)
    assert (lengths == 12).all()


def test_the_kv_cache_holds_the_key_value_heads_only(llama_dir):
    fields, _ = llama.read(llama_dir[0])
    (layer, *_) = init_cache(ModelConfig(**fields), batch_size=1, max_len=16)
    assert layer["k"].shape == (1, 16, 2, 8)  # 2 key / value heads of the 4 query heads


EXPORTS = {
    "llama": dict(num_kv_heads=2, rope_base=500.0, rope_scaling_factor=2.0, tie_embeddings=False),
    "qwen2": dict(num_kv_heads=2, qkv_bias=True, tie_embeddings=True),
    "mistral": dict(num_kv_heads=1, sliding_window=5, tie_embeddings=False),
    "llama-wide-heads": dict(num_kv_heads=2, head_dim=16),  # heads wider than d_model / num_heads (Qwen3's kind)
    "llama-3.1-rope": dict(rope_base=100.0, rope_scaling="llama3", rope_scaling_factor=8.0, rope_original_max_len=64),
    "llama-biased": dict(use_bias=True),  # attention_bias and mlp_bias
    "llama-biased-but-qkv": dict(use_bias=True, qkv_bias=False),  # q, k, v biases written as zeros
}


@pytest.mark.parametrize("model_type", EXPORTS)
def test_exported_models_load_in_transformers_with_our_logits(tmp_path, model_type):
    options = dict(llama.LLAMA_FAMILY, vocab_size=VOCAB, num_layers=2, num_heads=4, d_model=32, d_ff=40, max_len=32)
    config = ModelConfig(**(options | EXPORTS[model_type]))
    model = TransformerLM(config)

    params = random_params(model)
    fields = dataclasses.asdict(config)
    assert convert.write_model(str(tmp_path), fields, params) == "Llama"
    model_type = model_type.split("-")[0]
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == model_type

    exact = config.qkv_bias or not config.use_bias  # else the zero biases read back as biases
    reference = check_exported(
        tmp_path, model, params, fields, llama.read, transformers.AutoModelForCausalLM, 24, exact_fields=exact
    )
    assert type(reference).__name__ == llama.ARCHITECTURES[model_type]


def test_export_picks_the_family_that_expresses_the_model_and_names_what_none_can(tmp_path):
    fields = dict(vocab_size=VOCAB, num_layers=1, num_heads=2, d_model=8, d_ff=16, max_len=8)
    with pytest.raises(ValueError, match="Not GPT-2, as it has position='rotary' .*Not Llama, as it has mlp='gelu'"):
        convert.write_model(str(tmp_path), fields | dict(position="rotary"), params={})
    with pytest.raises(ValueError, match="Not Llama, as it has parallel_residual=True"):
        convert.write_model(str(tmp_path), dict(llama.LLAMA_FAMILY, **fields, parallel_residual=True), params={})
    with pytest.raises(ValueError, match="params do not fit the fields' Llama model"):
        convert.write_model(str(tmp_path), dict(llama.LLAMA_FAMILY, **fields), params={})
    assert not (tmp_path / "model.safetensors").exists()


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(rope_parameters={"rope_type": "yarn", "factor": 4.0, "rope_theta": 1e4}), "RoPE scaling 'yarn'"),
        (dict(rope_scaling={"type": "dynamic", "factor": 2.0}), "RoPE scaling 'dynamic'"),
        (dict(hidden_act="gelu"), "hidden_act='gelu'"),
        (dict(mlp_bias=True), "no bias of layer 0's mlp gate: mlp_bias is true"),  # the config's biases are absent
        (dict(model_type="qwen2", use_sliding_window=True), "use_sliding_window=true"),
    ],
)
def test_options_the_family_cannot_express_are_refused_by_name(llama_dir, tmp_path, change, message):
    directory = llama_dir[0]
    hf = json.loads(open(f"{directory}/config.json").read()) | change
    (tmp_path / "config.json").write_text(json.dumps(hf))
    (tmp_path / "model.safetensors").symlink_to(f"{directory}/model.safetensors")
    with pytest.raises(ValueError, match=message):
        convert.read_model(str(tmp_path))


def test_older_config_files_with_top_level_rope_fields_read_alike(llama_dir, tmp_path):
    directory = llama_dir[0]
    hf = json.loads(open(f"{directory}/config.json").read())
    del hf["rope_parameters"]
    hf |= {"rope_theta": 500.0, "rope_scaling": {"type": "linear", "factor": 2.0}}  # transformers 4's layout
    (tmp_path / "config.json").write_text(json.dumps(hf))
    (tmp_path / "model.safetensors").symlink_to(f"{directory}/model.safetensors")
    assert llama.read(str(tmp_path))[0] == llama.read(directory)[0]
