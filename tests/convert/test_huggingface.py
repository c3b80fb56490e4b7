"""Hugging Face GPT-2 and BERT checkpoints: our model gives the reference's outputs (transformers, PyTorch CPU),
and our GPT-2-family models export to a directory that transformers loads with the same logits."""

import copy
import dataclasses
import json
import shutil

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from flax import traverse_util
from safetensors.numpy import load_file, save_file

from lm import hf, sampling
from lm.models.config import ModelConfig
from lm.models.transformer import TransformerLM, init_params

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

VOCAB = 97


def _perturb(model, norm_name):
    """Moves LayerNorms off their (1, 0) init and biases off 0, so that a swapped or dropped tensor shows."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if norm_name in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))


def _padded(seed, lengths, T, left=False):
    """Random tokens [B, T] and the valid mask [B, T] of rows padded (right, or left) to `lengths`."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, VOCAB, (len(lengths), T))
    valid = np.arange(T)[None, :] < np.asarray(lengths)[:, None]
    return tokens, valid[:, ::-1].copy() if left else valid


def _assert_same_tree(ours, expected):
    ours, expected = traverse_util.flatten_dict(ours), traverse_util.flatten_dict(expected)
    assert sorted(ours) == sorted(expected)
    for path, value in expected.items():
        np.testing.assert_array_equal(np.asarray(ours[path]), np.asarray(value), err_msg="/".join(path))


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        n_layer=2,
        n_head=4,
        n_embd=32,
        vocab_size=VOCAB,
        n_positions=24,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        initializer_range=0.1,  # large activations, so that e.g. the GELU variant shows in the logits
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    _perturb(model, "ln")
    directory = tmp_path_factory.mktemp("gpt2")
    model.save_pretrained(directory, safe_serialization=True)
    return str(directory), model


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    """BertForPreTraining: the MLM head and the pooler (BertForMaskedLM has no pooler)."""
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=40,
        max_position_embeddings=24,
        type_vocab_size=2,
        hidden_act="gelu",  # exact (erf) GELU
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        initializer_range=0.1,
    )
    model = transformers.BertForPreTraining(config).eval()
    _perturb(model, "LayerNorm")
    directory = tmp_path_factory.mktemp("bert")
    model.save_pretrained(directory)
    return str(directory), model


# Right padding is invisible to a causal model's valid positions; left padding needs the mask (`valid`).
@pytest.mark.parametrize("lengths, left", [((24, 24, 24), False), ((24, 17, 9), False), ((24, 17, 9), True)])
def test_imported_gpt2_matches_transformers_logits(gpt2_dir, lengths, left):
    directory, reference = gpt2_dir
    fields, params = hf.read_gpt2(directory)
    model = TransformerLM(ModelConfig(**fields))
    tokens, valid = _padded(0, lengths, 24, left)
    ours = model.apply({"params": params}, jnp.asarray(tokens), valid=jnp.asarray(valid))
    with torch.no_grad():
        theirs = reference(torch.from_numpy(tokens), attention_mask=torch.from_numpy(valid).long()).logits.numpy()
    np.testing.assert_allclose(np.asarray(ours)[valid], theirs[valid], atol=1e-4)  # padding's logits are moot


def test_imported_bert_matches_transformers_logits_and_pooler(bert_dir):
    directory, reference = bert_dir
    fields, params = hf.read_bert(directory)
    assert (fields["gelu_approximate"], fields["mlm_transform"], fields["head_bias"]) == (False, True, True)
    tokens, valid = _padded(1, (24, 15, 6), 24)
    types = (np.arange(24)[None, :] >= np.array([[10], [7], [3]])).astype(np.int64)  # sentence B from there on
    inputs = dict(valid=jnp.asarray(valid), token_types=jnp.asarray(types))
    ours = TransformerLM(ModelConfig(**fields)).apply({"params": params}, jnp.asarray(tokens), **inputs)

    def pooled(module, tokens, **kwargs):  # classify's pooling and pooler, without its fresh classifier
        return jnp.tanh(module.pooler(module.encode(tokens, **kwargs)[:, 0]))

    our_pooled = TransformerLM(ModelConfig(**fields, num_classes=1)).apply(
        {"params": params}, jnp.asarray(tokens), **inputs, method=pooled
    )
    with torch.no_grad():
        out = reference(
            torch.from_numpy(tokens),
            attention_mask=torch.from_numpy(valid).long(),
            token_type_ids=torch.from_numpy(types),
            output_hidden_states=True,
        )
        their_pooled = reference.bert.pooler(out.hidden_states[-1]).numpy()
    np.testing.assert_allclose(np.asarray(ours)[valid], out.prediction_logits.numpy()[valid], atol=1e-4)
    np.testing.assert_allclose(np.asarray(our_pooled), their_pooled, atol=1e-4)


def test_bert_without_mlm_head_or_pooler(bert_dir, tmp_path):
    """BertModel (no "bert." prefix, no MLM head) and BertForMaskedLM (no pooler) give the matching subtrees."""
    directory, reference = bert_dir
    full_fields, full = hf.read_bert(directory)
    reference.bert.save_pretrained(tmp_path / "model")
    fields, params = hf.read_bert(str(tmp_path / "model"))
    assert (fields["mlm_transform"], fields["head_bias"]) == (False, False)
    _assert_same_tree(params, {k: v for k, v in full.items() if k not in ("mlm_dense", "mlm_norm", "head_bias")})
    masked_lm = transformers.BertForMaskedLM(reference.config)
    masked_lm.load_state_dict(reference.state_dict(), strict=False)  # drops the pooler and next-sentence head
    masked_lm.save_pretrained(tmp_path / "mlm")
    fields, params = hf.read_bert(str(tmp_path / "mlm"))
    assert fields == full_fields
    _assert_same_tree(params, {k: v for k, v in full.items() if k != "pooler"})


def test_bert_old_tensor_names_and_the_tied_decoder(bert_dir, tmp_path):
    directory, _ = bert_dir
    _, expected = hf.read_bert(directory)
    w = load_file(f"{directory}/model.safetensors")
    # Old checkpoints (e.g. bert-base-uncased) name LayerNorm's tensors gamma / beta and store the decoder.
    old = {
        k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
        for k, v in w.items()
    }
    old["cls.predictions.decoder.weight"] = w["bert.embeddings.word_embeddings.weight"]
    shutil.copy(f"{directory}/config.json", tmp_path)
    save_file(old, str(tmp_path / "model.safetensors"))
    _assert_same_tree(hf.read_bert(str(tmp_path))[1], expected)
    old["cls.predictions.decoder.weight"] = old["cls.predictions.decoder.weight"] + 1.0
    save_file(old, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match="decoder.weight differs from the word embeddings"):
        hf.read_bert(str(tmp_path))


def test_bfloat16_and_sharded_checkpoints_read_as_float32(gpt2_dir, tmp_path):
    directory, reference = gpt2_dir
    fields, params = hf.read_gpt2(directory)
    copy.deepcopy(reference).to(torch.bfloat16).save_pretrained(tmp_path, max_shard_size="20KB")
    assert not (tmp_path / "model.safetensors").exists()  # sharded: model-0000x-of-0000y.safetensors + index
    bf16_fields, bf16_params = hf.read_gpt2(str(tmp_path))
    assert bf16_fields == fields
    _assert_same_tree(bf16_params, jax.tree.map(lambda x: x.astype(ml_dtypes.bfloat16).astype(np.float32), params))


@pytest.mark.parametrize("gelu_approximate", [True, False])
def test_exported_gpt2_loads_in_transformers_with_our_logits(tmp_path, gelu_approximate):
    config = ModelConfig(
        vocab_size=VOCAB, num_layers=2, num_heads=4, d_model=32, d_ff=48, max_len=16, gelu_approximate=gelu_approximate
    )
    model = TransformerLM(config)

    @jax.jit  # one compilation, not one per op
    def random_params(key):  # our init, moved off its (1, 0) norms and 0 biases, and larger
        leaves, treedef = jax.tree.flatten(init_params(model, key))
        keys = jax.random.split(jax.random.fold_in(key, 1), len(leaves))
        return treedef.unflatten([x + 0.1 * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys, strict=True)])

    params = random_params(jax.random.key(0))
    fields = dataclasses.asdict(config)
    hf.write_gpt2(str(tmp_path), fields, params)

    reference, info = transformers.GPT2LMHeadModel.from_pretrained(str(tmp_path), output_loading_info=True)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    assert json.loads((tmp_path / "config.json").read_text())["activation_function"] == (
        "gelu_new" if gelu_approximate else "gelu"
    )
    tokens = np.random.default_rng(2).integers(0, VOCAB, (2, 16))
    with torch.no_grad():
        theirs = reference.eval()(torch.from_numpy(tokens)).logits.numpy()
    np.testing.assert_allclose(np.asarray(model.apply({"params": params}, jnp.asarray(tokens))), theirs, atol=1e-4)

    read_fields, read_params = hf.read_gpt2(str(tmp_path))
    assert read_fields == {k: fields[k] for k in read_fields}
    _assert_same_tree(read_params, params)


@pytest.mark.parametrize(
    "override",
    [
        dict(causal=False),
        dict(norm_position="post"),
        dict(position="rotary"),
        dict(norm="rmsnorm"),
        dict(mlp="swiglu"),
        dict(use_bias=False),
        dict(tie_embeddings=False),
        dict(embedding_norm=True),
        dict(type_vocab_size=2),
        dict(mlm_transform=True),
        dict(head_bias=True),
    ],
)
def test_export_refuses_models_outside_the_gpt2_family(tmp_path, override):
    fields = dict(vocab_size=VOCAB, num_layers=1, num_heads=2, d_model=8, d_ff=16, max_len=8) | override
    ((name, value),) = override.items()
    with pytest.raises(ValueError, match=f"GPT-2-family models only; this one has {name}={value!r}"):
        hf.write_gpt2(str(tmp_path), fields, params={})
    assert not (tmp_path / "model.safetensors").exists()


def test_export_refuses_params_or_fields_that_do_not_fit(tmp_path):
    fields = dict(vocab_size=VOCAB, num_layers=1, num_heads=2, d_model=8, d_ff=16, max_len=8)
    with pytest.raises(ValueError, match="params do not fit"):
        hf.write_gpt2(str(tmp_path), fields, params={"embed": {"embedding": np.zeros((VOCAB, 8))}})
    with pytest.raises(ValueError, match="do not describe a model"):
        hf.write_gpt2(str(tmp_path), {"vocab_size": VOCAB}, params={})


def test_read_model_dispatches_on_model_type(gpt2_dir, bert_dir, tmp_path):
    for (directory, _), read in ((gpt2_dir, hf.read_gpt2), (bert_dir, hf.read_bert)):
        assert hf.is_hf_directory(directory)
        fields, params = hf.read_model(directory)
        expected_fields, expected_params = read(directory)
        assert fields == expected_fields
        _assert_same_tree(params, expected_params)
    with pytest.raises(ValueError, match="model_type 'bert', not 'gpt2'"):
        hf.read_gpt2(bert_dir[0])
    assert not hf.is_hf_directory(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model": {"vocab_size": 8}}))  # one of our workdirs
    assert not hf.is_hf_directory(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert hf.is_hf_directory(str(tmp_path))
    with pytest.raises(ValueError, match="model_type 'llama'; the Hugging Face models we read are gpt2, bert"):
        hf.read_model(str(tmp_path))


def test_missing_and_malformed_files_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="config.json not found"):
        hf.read_gpt2(str(tmp_path))
    (tmp_path / "config.json").write_text("{")
    with pytest.raises(ValueError, match="model.safetensors not found"):
        hf.read_gpt2(str(tmp_path))
    (tmp_path / "pytorch_model.bin").write_bytes(b"a pickle")
    with pytest.raises(ValueError, match="pytorch_model.bin but no model.safetensors.*save_pretrained"):
        hf.read_bert(str(tmp_path))
    (tmp_path / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match="config.json is not valid JSON"):
        hf.read_gpt2(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="not a GPT-2 config"):
        hf.read_gpt2(str(tmp_path))
    with pytest.raises(ValueError, match="not a BERT config"):
        hf.read_bert(str(tmp_path))
    gpt2 = dict(model_type="gpt2", n_embd=8, n_layer=1, n_head=2, n_positions=8, vocab_size=8)
    (tmp_path / "config.json").write_text(json.dumps(gpt2))
    with pytest.raises(ValueError, match="model.safetensors could not be read as safetensors"):
        hf.read_gpt2(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps(gpt2 | {"activation_function": "relu"}))
    with pytest.raises(ValueError, match="activation 'relu'"):
        hf.read_model(str(tmp_path))


def _generate_both(gpt2_dir, prompts, max_new_tokens, eos_id=None, repetition_penalty=1.0):
    """Greedy continuations of left-padded prompts: (ours, transformers' generate), [B, max_new_tokens] each."""
    directory, reference = gpt2_dir
    fields, params = hf.read_gpt2(directory)
    model = TransformerLM(ModelConfig(**fields))
    tokens, valid = sampling.pad_left([np.asarray(p) for p in prompts], pad_id=0)
    options = sampling.Options(temperature=0.0, repetition_penalty=repetition_penalty)
    generate = sampling.compile_generate(model, max_new_tokens, eos_id)
    ours, lengths = generate(params, tokens, valid, jax.random.PRNGKey(0), options)
    with torch.no_grad():
        theirs = reference.generate(
            torch.from_numpy(tokens).long(),
            attention_mask=torch.from_numpy(valid).long(),
            max_new_tokens=max_new_tokens,
            min_new_tokens=0,
            do_sample=False,
            repetition_penalty=repetition_penalty,
            eos_token_id=eos_id,
            pad_token_id=0 if eos_id is None else eos_id,
        )[:, tokens.shape[1] :].numpy()
    return np.asarray(ours), np.asarray(lengths), theirs


def test_greedy_generation_of_prompts_of_different_lengths_equals_transformers_generate(gpt2_dir):
    ours, lengths, theirs = _generate_both(gpt2_dir, [[5, 6, 7, 8, 9, 10, 11], [3, 1], [40, 41, 42, 43]], 12)
    np.testing.assert_array_equal(ours, theirs)
    assert (lengths == 12).all()


def test_greedy_generation_with_repetition_penalty_and_eos_equals_transformers_generate(gpt2_dir):
    prompts = [[5, 6, 7], [3, 1, 2], [40, 41, 42]]
    free, _, _ = _generate_both(gpt2_dir, prompts, 12, repetition_penalty=1.3)
    eos = int(free[1, 4])  # row 1 ends at its fifth token
    ours, lengths, theirs = _generate_both(gpt2_dir, prompts, 12, eos_id=eos, repetition_penalty=1.3)
    assert theirs.shape[1] <= 12
    padded = np.full((3, 12), eos)  # transformers stops when every row has ended
    padded[:, : theirs.shape[1]] = theirs
    np.testing.assert_array_equal(ours, padded)
    assert lengths[1] <= 5 and (ours[1, lengths[1] :] == eos).all()
