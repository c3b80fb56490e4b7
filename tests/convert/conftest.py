"""The reference directories, written once per session."""

import pytest

from tests.convert.references import VOCAB, perturb


@pytest.fixture(scope="session")
def gpt2_dir(tmp_path_factory):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
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
    perturb(model, "ln")
    directory = tmp_path_factory.mktemp("gpt2")
    model.save_pretrained(directory, safe_serialization=True)
    return str(directory), model


@pytest.fixture(scope="session")
def bert_dir(tmp_path_factory):
    """BertForPreTraining: the MLM head and the pooler (BertForMaskedLM has no pooler)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
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
    perturb(model, "LayerNorm")
    directory = tmp_path_factory.mktemp("bert")
    model.save_pretrained(directory)
    return str(directory), model
