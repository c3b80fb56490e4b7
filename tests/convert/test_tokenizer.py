"""Our tokenizers as Hugging Face tokenizer files (lm/convert/tokenizer.py): transformers' AutoTokenizer loads
each kind from tokenizer.json + tokenizer_config.json alone and gives our ids, our text back and our special
tokens."""

import json

import pytest

from lm.convert import tokenizer as tokenizer_files
from lm.data import corpus, tokenizers

transformers = pytest.importorskip("transformers")

TEXT = corpus.generate(24_000)[0]
TRAIN, HELD_OUT = TEXT[:20_000], TEXT[20_000:]
# what any-text tokenizers (bytes, SentencePiece with byte fallback) must also get right: characters never
# trained on, runs of spaces, leading and trailing whitespace, empty lines, text that spells a byte piece
UNSEEN = ["unseen: 漢字 ü ∑ 🙂", "  two  spaces, then three   ", "\n\nlines\n\n", "x1y2 3.5 <0x41> ▁"]


def kinds():
    return {
        "byte": tokenizers.ByteTokenizer(),
        "byte+specials": tokenizers.ByteTokenizer(specials=True),
        "char": tokenizers.CharTokenizer(TRAIN),
        "char+specials": tokenizers.CharTokenizer(TRAIN, specials=True),
        "symbols+specials": tokenizers.SymbolTokenizer(["1", "2", "+", "="], specials=True),
        "sentencepiece bpe": tokenizers.build("sentencepiece", TRAIN, vocab_size=400),
        "sentencepiece unigram": tokenizers.build("sentencepiece", TRAIN, 400, "unigram"),
    }


@pytest.mark.parametrize("kind", list(kinds()))
def test_autotokenizer_loads_each_kind_with_our_ids_text_and_special_tokens(kind, tmp_path):
    ours = kinds()[kind]
    assert tokenizer_files.save(ours, str(tmp_path), max_len=4096) == ["tokenizer.json", "tokenizer_config.json"]
    theirs = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    if kind.startswith("symbols"):
        texts = ["1 + 2 = 2 1", " 2  = 1 ", ""]
    else:
        texts = [line for line in HELD_OUT.split("\n")[:200]] + [HELD_OUT[:2000], ""]
        texts += UNSEEN if not kind.startswith("char") else ["  two  spaces\n\nand lines  "]
        if kind == "sentencepiece unigram":  # the library's unigram lattice also matches byte pieces spelled out
            texts.remove(UNSEEN[-1])
    for text in texts:
        ids = theirs(text).input_ids  # with the special tokens transformers would add: none
        assert ids == ours.encode(text).tolist(), repr(text)
        assert theirs.decode(ids) == ours.decode(ids), repr(text)
    assert len(theirs) == ours.vocab_size and theirs.model_max_length == 4096
    names = {"[BOS]": theirs.bos_token_id, "[EOS]": theirs.eos_token_id, "[PAD]": theirs.pad_token_id}
    names |= {"[UNK]": theirs.unk_token_id}
    expected = {name: i for name, i in ours.special_ids.items() if name in names}
    newline = {"[EOS]": int(ours.encode("\n")[0])} if not expected else {}  # without special tokens (below)
    assert {name: i for name, i in names.items() if i is not None} == (
        expected or newline | {"[PAD]": newline["[EOS]"]}
    )
    if kind.startswith("char"):  # a character never trained on, which ours refuses: [UNK], or nothing without it
        assert theirs("a漢").input_ids == ours.encode("a").tolist() + (
            [ours.special_ids["[UNK]"]] if ours.special_ids else []
        )
    if ours.special_ids:  # special tokens decode as ours do: named, or left out by SentencePiece
        ids = [ours.special_ids["[BOS]"], *ours.encode(texts[0]).tolist(), ours.special_ids["[EOS]"]]
        assert theirs.decode(ids, skip_special_tokens=ours.kind == "sentencepiece") == ours.decode(ids)


def test_without_special_tokens_the_newline_stands_for_eos_and_pad_and_generate_gets_none(tmp_path):
    """A causal run on chars or bytes has no EOS; lm_eval needs one to stand before a text with no context."""
    for ours in (tokenizers.CharTokenizer(TRAIN), tokenizers.ByteTokenizer()):
        tokenizer_files.save(ours, str(tmp_path), max_len=64)
        theirs = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
        newline = int(ours.encode("\n")[0])
        assert (theirs.eos_token_id, theirs.pad_token_id, theirs.decode([theirs.eos_token_id])) == (
            newline,
            newline,
            "\n",
        )
        assert theirs.bos_token is None and tokenizer_files.generation_ids(ours) == {}
    no_newline = tokenizers.CharTokenizer("abc")
    assert tokenizer_files.token_ids(no_newline) == {"eos": 0, "pad": 0}
    sentencepiece = kinds()["sentencepiece bpe"]
    assert tokenizer_files.generation_ids(sentencepiece) == {"bos_token_id": 5, "eos_token_id": 6, "pad_token_id": 0}


def test_a_workdir_of_before_the_rename_reads_its_tokenizer_json(tmp_path):
    ours = tokenizers.build("sentencepiece", TRAIN, vocab_size=400)
    tokenizers.save(ours, str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lm_tokenizer.json", "tokenizer.model"]
    (tmp_path / "lm_tokenizer.json").rename(tmp_path / "tokenizer.json")  # the name before 2026-12-07
    assert tokenizers.load(str(tmp_path)).fingerprint() == ours.fingerprint()
    assert json.loads((tmp_path / "tokenizer.json").read_text())["kind"] == "sentencepiece"
