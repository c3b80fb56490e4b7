"""Test setup: 8 fake CPU devices and a thread pool to match (set before JAX starts), a persistent
compilation cache (one per pytest-xdist worker), and compiled code freed once a process holds many memory
mappings.

Every executable XLA:CPU loads maps its code into memory; kept for the whole session, the suite's
thousands of executables would pass Linux's limit of 65,530 mappings per process (vm.max_map_count), and
the next compilation or cache read would crash the process (a segmentation fault or an abort inside
jaxlib, seen at about 85% of the suite before the fixture below).
"""

import json
import os
import sys

# PyPI's torch for Python 3.12 is its CUDA build, which brings triton (GPU kernels); importing triton in a
# process that has loaded TensorFlow (a TFDS test) crashes it (a segmentation fault: both carry LLVM). The
# tests run torch on the CPU, where triton has nothing to do, so here it is absent (torch then skips it).
sys.modules.setdefault("triton", None)

from lm import cli  # noqa: E402  (only defines flags: JAX starts below)

os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
cli.widen_cpu_thread_pool(os.environ)  # NPROC=16, as launch.py does: XLA:CPU's all-reduce needs spare threads
# One cache directory per pytest-xdist worker: JAX writes cache entries in place, so a process reading an
# entry another is writing could load half of it.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
os.environ.setdefault(
    "LM_COMPILATION_CACHE", os.path.expanduser(f"~/.cache/lm/jax-tests{'-' + _worker if _worker else ''}")
)

import jax  # noqa: E402
import ml_collections  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_compilation_cache_dir", os.environ["LM_COMPILATION_CACHE"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)

from lm.config import default_config, shrink_to_smoke  # noqa: E402


def memory_mappings() -> int:
    """How many memory mappings this process holds (0 where /proc does not say)."""
    try:
        with open("/proc/self/maps") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


@pytest.fixture(autouse=True, scope="module")
def free_compiled_code():
    """After a test module, drops JAX's in-memory caches of compiled functions once the process holds more
    than half the mappings Linux allows (the later modules then read what they need from the persistent
    cache)."""
    yield
    if memory_mappings() > 30_000:
        jax.clear_caches()


@pytest.fixture
def tiny_config() -> ml_collections.ConfigDict:
    """A config that trains in well under a second per step on the built-in corpus."""
    c = shrink_to_smoke(default_config())
    c.data.synthetic_chars = 5_000
    c.optim.warmup_steps = 1
    c.sample.max_new_tokens = 4
    c.sample.prompt = "cat"
    return c


@pytest.fixture(scope="session")
def hf_gpt2_dir(tmp_path_factory) -> str:
    """A tiny GPT-2 directory as a Hugging Face repository serves one: config.json, model.safetensors,
    vocab.json and merges.txt (a byte-level BPE trained on the built-in corpus, "<|endoftext|>" last)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenizers import ByteLevelBPETokenizer

    from lm.data import corpus

    directory = tmp_path_factory.mktemp("hf_gpt2")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([corpus.generate(20_000)[0]], vocab_size=300, min_frequency=2, show_progress=False)
    bpe.save_model(str(directory))
    vocab = json.loads((directory / "vocab.json").read_text())
    vocab["<|endoftext|>"] = len(vocab)
    (directory / "vocab.json").write_text(json.dumps(vocab))
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        n_layer=2,
        n_head=2,
        n_embd=32,
        vocab_size=len(vocab),
        n_positions=64,
        bos_token_id=len(vocab) - 1,
        eos_token_id=len(vocab) - 1,
        initializer_range=0.1,
    )
    transformers.GPT2LMHeadModel(config).save_pretrained(directory)
    return str(directory)


@pytest.fixture(scope="session")
def hf_bert_dir(tmp_path_factory) -> str:
    """A tiny BERT directory (BertForPreTraining: MLM head and pooler) with its WordPiece vocab.txt."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenizers import BertWordPieceTokenizer

    from lm.data import corpus

    directory = tmp_path_factory.mktemp("hf_bert")
    wordpiece = BertWordPieceTokenizer(lowercase=True)
    wordpiece.train_from_iterator([corpus.generate(20_000)[0]], vocab_size=200, show_progress=False)
    wordpiece.save_model(str(directory))
    vocab_size = len((directory / "vocab.txt").read_text().splitlines())
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    transformers.BertForPreTraining(config).save_pretrained(directory)
    return str(directory)


@pytest.fixture(scope="session")
def hf_llama_dir(tmp_path_factory) -> str:
    """A tiny Llama directory as a Hugging Face repository serves one: config.json, model.safetensors,
    tokenizer.json and tokenizer_config.json (Llama 2's kind of SentencePiece BPE, trained on the built-in
    corpus, with byte fallback), grouped-query attention and an untied head."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    from lm.data import corpus

    directory = tmp_path_factory.mktemp("hf_llama")
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="never")  # pieces within words while training
    specials = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(256)]
    lines = corpus.generate(20_000)[0].split("\n")
    tok.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=320, special_tokens=specials, show_progress=False))
    tok.pre_tokenizer = None
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    tok.save(str(directory / "tokenizer.json"))
    settings = dict(tokenizer_class="LlamaTokenizer", bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    (directory / "tokenizer_config.json").write_text(json.dumps(settings))
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        bos_token_id=1,
        eos_token_id=2,
        initializer_range=0.1,
    )
    transformers.LlamaForCausalLM(config).save_pretrained(directory)
    return str(directory)


@pytest.fixture(scope="session")
def hf_neox_dir(tmp_path_factory, hf_llama_dir) -> str:
    """A tiny GPT-NeoX (Pythia's options: parallel residual, a quarter of each head rotated) with the Llama
    directory's tokenizer files."""
    import shutil

    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    directory = tmp_path_factory.mktemp("hf_neox")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(hf_llama_dir, name), directory / name)
    torch.manual_seed(0)
    config = transformers.GPTNeoXConfig(
        vocab_size=json.loads((directory / "tokenizer.json").read_text())["model"]["vocab"].__len__(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=64,
        rotary_pct=0.25,
        bos_token_id=1,
        eos_token_id=2,
        initializer_range=0.1,
    )
    transformers.GPTNeoXForCausalLM(config).save_pretrained(directory)
    return str(directory)
