"""The reference directories, written once per session."""

import json

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


def _causal_lm_dir(tmp_path_factory, name, config):
    """A tiny random causal LM of transformers' (norms and biases perturbed), saved: (directory, model)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config).eval()
    perturb(model, "norm")
    directory = tmp_path_factory.mktemp(name)
    model.save_pretrained(directory)
    return str(directory), model


LLAMA_SHAPE = dict(
    vocab_size=VOCAB,
    hidden_size=32,
    intermediate_size=40,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,  # grouped-query attention: 2 query heads per key / value head
    max_position_embeddings=64,
    initializer_range=0.1,
)


@pytest.fixture(scope="session")
def llama_dir(tmp_path_factory):
    """Llama with grouped-query attention, rope_theta 500 and linear RoPE scaling, an untied head."""
    transformers = pytest.importorskip("transformers")
    rope = {"rope_type": "linear", "factor": 2.0, "rope_theta": 500.0}
    config = transformers.LlamaConfig(**LLAMA_SHAPE, rope_parameters=rope, rms_norm_eps=1e-5)
    return _causal_lm_dir(tmp_path_factory, "llama", config)


@pytest.fixture(scope="session")
def llama3_dir(tmp_path_factory):
    """Llama 3.1's RoPE scaling, on wavelengths 6.3, 20, 63 and 199 (base 100, head_dim 8) against an original
    context of 64 / 4 .. 64: one kept, two blended, one divided by the factor."""
    transformers = pytest.importorskip("transformers")
    rope = dict(
        rope_type="llama3",
        rope_theta=100.0,
        factor=8.0,
        low_freq_factor=1.0,
        high_freq_factor=4.0,
        original_max_position_embeddings=64,
    )
    config = transformers.LlamaConfig(**LLAMA_SHAPE, rope_parameters=rope, tie_word_embeddings=True)
    return _causal_lm_dir(tmp_path_factory, "llama3", config)


@pytest.fixture(scope="session")
def qwen2_dir(tmp_path_factory):
    """Qwen2: query / key / value biases, tied embeddings."""
    transformers = pytest.importorskip("transformers")
    config = transformers.Qwen2Config(**LLAMA_SHAPE, tie_word_embeddings=True)
    return _causal_lm_dir(tmp_path_factory, "qwen2", config)


@pytest.fixture(scope="session")
def mistral_dir(tmp_path_factory):
    """Mistral with a sliding window of 5 positions: shorter than the tests' sequences."""
    transformers = pytest.importorskip("transformers")
    config = transformers.MistralConfig(**LLAMA_SHAPE, sliding_window=5)
    return _causal_lm_dir(tmp_path_factory, "mistral", config)


def _neox_config(**options):
    transformers = pytest.importorskip("transformers")
    return transformers.GPTNeoXConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=64,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        initializer_range=0.1,
        **options,
    )


@pytest.fixture(scope="session")
def neox_dir(tmp_path_factory):
    """Pythia's options: parallel residual, rotary on a quarter of each head's dims (2 of 8), exact GELU."""
    return _causal_lm_dir(tmp_path_factory, "neox", _neox_config(rotary_pct=0.25, use_parallel_residual=True))


@pytest.fixture(scope="session")
def neox_sequential_dir(tmp_path_factory):
    """GPT-NeoX without the parallel residual, rotary on half the dims, base 1000."""
    config = _neox_config(rotary_pct=0.5, rotary_emb_base=1000, use_parallel_residual=False)
    return _causal_lm_dir(tmp_path_factory, "neox_sequential", config)


def _t5_dir(tmp_path_factory, name, untied_head: bool, **options):
    """A tiny random T5ForConditionalGeneration saved as the Hub's T5 files are: config.json says
    tie_word_embeddings (v1.1: false, with lm_head.weight in the weights) and decoder_start_token_id 0, and has
    no scale_decoder_outputs (transformers 5 derives it from the tie). Norms perturbed, the relative position
    tables made larger so that a wrong bucket shows. Returns (directory, the model transformers loads from it)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    safetensors = pytest.importorskip("safetensors.torch")
    torch.manual_seed(0)
    config = transformers.T5Config(vocab_size=VOCAB, dropout_rate=0.0, decoder_start_token_id=0, **options)
    model = transformers.T5ForConditionalGeneration(config).eval()
    perturb(model, "layer_norm")
    with torch.no_grad():
        for module in model.modules():
            if getattr(module, "has_relative_attention_bias", False):
                module.relative_attention_bias.weight.mul_(5.0)
    directory = tmp_path_factory.mktemp(name)
    model.save_pretrained(directory)
    hf = json.loads((directory / "config.json").read_text())
    hf.pop("scale_decoder_outputs", None)
    hf |= {"tie_word_embeddings": not untied_head, "decoder_start_token_id": 0}
    (directory / "config.json").write_text(json.dumps(hf))
    if untied_head:  # v1.1's own head: a tensor of its own in the file
        weights = safetensors.load_file(directory / "model.safetensors")
        weights["lm_head.weight"] = torch.randn(VOCAB, config.d_model)
        safetensors.save_file(weights, directory / "model.safetensors", metadata={"format": "pt"})
    reference = transformers.T5ForConditionalGeneration.from_pretrained(directory).eval()
    return str(directory), reference


@pytest.fixture(scope="session")
def t5_dir(tmp_path_factory):
    """T5 v1.0: ReLU MLP, the tied head on the decoder's output x d_model**-0.5; 3 decoder layers over 2 encoder
    layers; 8 buckets up to distance 12, so that the tests' 20-odd tokens reach the log-spaced and last buckets."""
    options = dict(d_model=32, d_kv=8, d_ff=48, num_heads=4, num_layers=2, num_decoder_layers=3)
    options |= dict(relative_attention_num_buckets=8, relative_attention_max_distance=12, feed_forward_proj="relu")
    return _t5_dir(tmp_path_factory, "t5", untied_head=False, **options)


@pytest.fixture(scope="session")
def t5_v1_1_dir(tmp_path_factory):
    """T5 v1.1: gated-gelu, an untied head and no scaling, heads of 16 dims (not 32 / 3), T5's 32 buckets / 128."""
    options = dict(d_model=32, d_kv=16, d_ff=40, num_heads=3, num_layers=2, feed_forward_proj="gated-gelu")
    return _t5_dir(tmp_path_factory, "t5_v1_1", untied_head=True, **options)


@pytest.fixture(scope="session")
def hf_t5_dir(tmp_path_factory) -> str:
    """A tiny T5 v1.1 directory as the Hub serves one: config.json, model.safetensors, and T5's kind of tokenizer:
    a SentencePiece Unigram model in tokenizer.json (<pad> 0, </s> 1, <unk> 2, "$A </s>" appended to a text)
    trained on the built-in corpus and the alphabet, tokenizer_config.json naming T5Tokenizer, no BOS token."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    from lm.data import corpus

    directory = tmp_path_factory.mktemp("hf_t5")
    tok = Tokenizer(models.Unigram())
    metaspace = dict(replacement="▁", prepend_scheme="always")
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(**metaspace)]
    )
    tok.decoder = decoders.Metaspace(**metaspace)
    lines = corpus.generate(20_000)[0].split("\n") + ["abcdefghijklmnopqrstuvwxyz 0123456789"] * 10
    trainer = trainers.UnigramTrainer(
        vocab_size=200, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>", show_progress=False
    )
    tok.train_from_iterator(lines, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    tok.save(str(directory / "tokenizer.json"))
    settings = dict(tokenizer_class="T5Tokenizer", eos_token="</s>", pad_token="<pad>", unk_token="<unk>", extra_ids=0)
    (directory / "tokenizer_config.json").write_text(json.dumps(settings))
    torch.manual_seed(0)
    config = transformers.T5Config(
        vocab_size=tok.get_vocab_size(),
        d_model=32,
        d_kv=16,
        d_ff=48,
        num_heads=3,
        num_layers=2,
        feed_forward_proj="gated-gelu",
        dropout_rate=0.0,
        decoder_start_token_id=0,
        tie_word_embeddings=False,
        initializer_factor=3.0,  # larger weights: greedy targets other than <pad> throughout
    )
    transformers.T5ForConditionalGeneration(config).save_pretrained(directory)
    return str(directory)
