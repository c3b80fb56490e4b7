"""BERT in: imported logits and pooler equal transformers' (PyTorch, CPU), whichever head the checkpoint has."""

import shutil

import jax.numpy as jnp
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from lm.convert import bert
from lm.models.config import ModelConfig
from lm.models.transformer import TransformerLM
from tests.convert.references import assert_same_tree, padded

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def test_imported_bert_matches_transformers_logits_and_pooler(bert_dir):
    directory, reference = bert_dir
    fields, params = bert.read(directory)
    assert (fields["gelu_approximate"], fields["mlm_transform"], fields["head_bias"]) == (False, True, True)
    tokens, valid = padded(1, (24, 15, 6), 24)
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
    full_fields, full = bert.read(directory)
    reference.bert.save_pretrained(tmp_path / "model")
    fields, params = bert.read(str(tmp_path / "model"))
    assert (fields["mlm_transform"], fields["head_bias"]) == (False, False)
    assert_same_tree(params, {k: v for k, v in full.items() if k not in ("mlm_dense", "mlm_norm", "head_bias")})
    masked_lm = transformers.BertForMaskedLM(reference.config)
    masked_lm.load_state_dict(reference.state_dict(), strict=False)  # drops the pooler and next-sentence head
    masked_lm.save_pretrained(tmp_path / "mlm")
    fields, params = bert.read(str(tmp_path / "mlm"))
    assert fields == full_fields
    assert_same_tree(params, {k: v for k, v in full.items() if k != "pooler"})


def test_bert_old_tensor_names_and_the_tied_decoder(bert_dir, tmp_path):
    directory, _ = bert_dir
    _, expected = bert.read(directory)
    w = load_file(f"{directory}/model.safetensors")
    # Old checkpoints (e.g. bert-base-uncased) name LayerNorm's tensors gamma / beta and store the decoder.
    old = {
        k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
        for k, v in w.items()
    }
    old["cls.predictions.decoder.weight"] = w["bert.embeddings.word_embeddings.weight"]
    shutil.copy(f"{directory}/config.json", tmp_path)
    save_file(old, str(tmp_path / "model.safetensors"))
    assert_same_tree(bert.read(str(tmp_path))[1], expected)
    old["cls.predictions.decoder.weight"] = old["cls.predictions.decoder.weight"] + 1.0
    save_file(old, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match="decoder.weight differs from the word embeddings"):
        bert.read(str(tmp_path))
