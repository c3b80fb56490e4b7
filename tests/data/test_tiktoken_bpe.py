"""tiktoken as the engine of GPT-2's kind of BPE (lm/data/tiktoken_bpe.py): the `tokenizers` library's ids on
hard and random text, through ids that are not in merge order too, and no engine for any other kind."""

import json
import random

import numpy as np
import pytest
from tokenizers import ByteLevelBPETokenizer, Tokenizer, models, normalizers, pre_tokenizers

from lm.data import corpus, tiktoken_bpe
from lm.data.hf_tokenizer import HFTokenizer

HARD = [
    "It's 2024: 3.14159, 1,000,000 and 42nd! don't they'll I'M",
    "  leading, trailing and   multiple spaces  \n\n\n\r\n\t tabs \u00a0nbsp\u3000ideographic \u2028",
    "naïve CAFÉ — 東京タワー 🙂👍🏽 e\u0301 zero\u200bwidth \x00control\x07",
    "text<|endoftext|>more <|endoftext|> spaced<|endoftext|><|endoftext",
    "",
]


def _random_texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    pool = [chr(c) for c in [*range(0x250), *range(0x4E00, 0x4E40), *range(0x1F600, 0x1F620), 0x200B, 0xA0, 0x3000]]
    pool += ["'s", "'ll", "'S", " ", "  ", "\n", "\r\n", "<|endoftext|>", "123", " 4567"]
    return ["".join(rng.choice(pool) for _ in range(rng.randint(0, 200))) for _ in range(n)]


@pytest.fixture(scope="module")
def bpe_dir(tmp_path_factory) -> str:
    """vocab.json + merges.txt of a byte-level BPE trained here, "<|endoftext|>" last (GPT-2's layout)."""
    directory = tmp_path_factory.mktemp("bpe")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([corpus.generate(20_000)[0], *HARD], vocab_size=600, min_frequency=2, show_progress=False)
    bpe.save_model(str(directory))
    vocab = json.loads((directory / "vocab.json").read_text())
    (directory / "vocab.json").write_text(json.dumps(vocab | {"<|endoftext|>": len(vocab)}))
    return str(directory)


def _same_ids(tokenizer: HFTokenizer, texts: list[str]) -> None:
    assert tokenizer._tiktoken is not None
    for text in texts:
        expected = tokenizer.tokenizer.encode(text, add_special_tokens=False).ids
        np.testing.assert_array_equal(tokenizer.encode(text), expected, err_msg=repr(text))


def test_tiktoken_gives_the_tokenizers_ids(bpe_dir):
    tokenizer = HFTokenizer.from_directory(bpe_dir)
    _same_ids(tokenizer, HARD + _random_texts(300) + [corpus.generate(3_000, seed=1)[0]])
    # several texts at once: their ids one after the other, none for an empty text
    both = tokenizer._tiktoken(["ab", "", "cd"])
    assert both.tolist() == [*tokenizer.encode("ab"), *tokenizer.encode("cd")]
    assert tokenizer._tiktoken([]).tolist() == []


def test_ids_out_of_merge_order_are_mapped(bpe_dir, tmp_path):
    """A vocabulary whose ids are shuffled: tiktoken's ranks are the merges' order, mapped back to the ids."""
    vocab = json.loads(open(f"{bpe_dir}/vocab.json").read())
    ids = list(vocab.values())
    random.Random(0).shuffle(ids)
    (tmp_path / "vocab.json").write_text(json.dumps(dict(zip(vocab, ids, strict=True))))
    (tmp_path / "merges.txt").write_text(open(f"{bpe_dir}/merges.txt").read())
    shuffled = HFTokenizer.from_directory(str(tmp_path))
    _same_ids(shuffled, HARD + _random_texts(100, seed=1))
    assert shuffled.encode("the cat").tolist() != HFTokenizer.from_directory(bpe_dir).encode("the cat").tolist()


def _byte_level(merges: list[tuple[str, str]], **changes) -> Tokenizer:
    alphabet = [tiktoken_bpe.BYTE_CHARS[b] for b in range(256)]
    tokens = alphabet + ["".join(m) for m in merges]
    tokenizer = Tokenizer(models.BPE({t: i for i, t in enumerate(dict.fromkeys(tokens))}, merges))
    tokenizer.pre_tokenizer = changes.pop("pre_tokenizer", pre_tokenizers.ByteLevel(add_prefix_space=False))
    for name, value in changes.items():
        setattr(tokenizer, name, value)
    return tokenizer


def test_other_kinds_of_tokenizer_get_no_engine():
    merges = [("a", "b"), ("ab", "c")]
    ordered = _byte_level(merges)  # ids in merge order, as GPT-2's own files have them: ranks are ids
    for text in ["abcab", "cab abc", " abc\n"]:
        assert tiktoken_bpe.engine(ordered)([text]).tolist() == ordered.encode(text).ids
    assert tiktoken_bpe.engine(_byte_level(merges + [("b", "c"), ("a", "bc")])) is None  # "abc" made twice
    assert tiktoken_bpe.engine(_byte_level(merges, normalizer=normalizers.NFC())) is None  # Pythia's kind
    prefixed = pre_tokenizers.ByteLevel(add_prefix_space=True)
    assert tiktoken_bpe.engine(_byte_level(merges, pre_tokenizer=prefixed)) is None
    assert tiktoken_bpe.engine(_byte_level(merges, pre_tokenizer=pre_tokenizers.Whitespace())) is None
    assert tiktoken_bpe.engine(Tokenizer(models.WordPiece({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))) is None
