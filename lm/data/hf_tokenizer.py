"""Pretrained Hugging Face tokenizers from a model directory: a tokenizer.json (GPT-NeoX / Pythia's byte-level
BPE, Llama's and Mistral's SentencePiece BPE, Qwen2's), or GPT-2's vocab.json + merges.txt, or BERT's vocab.txt.

They come with a pretrained model (`init_from`) and are run by Hugging Face's `tokenizers` library with
transformers' settings, so that our ids equal transformers' (tests/data/test_hf_tokenizer.py). A Hugging
Face tokenizer keeps its own special tokens and ids, and encodes them where the text spells them out
("<|endoftext|>", "[SEP]"), as transformers does.
"""

import functools
import json
import os
import re

import numpy as np
import tokenizers as hf_tokenizers

from lm import jsonfile
from lm.data import tiktoken_bpe

HF_TOKENIZER_FILE = "hf_tokenizer.json"  # in a workdir: the `tokenizers` library's own serialization
TOKENIZER_FILE = "tokenizer.json"  # in a Hugging Face directory: the same serialization
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"  # transformers' settings: which tokens are BOS, EOS, ...
# tokenizer_config.json's names for the special tokens we use -> ours
SPECIAL_NAMES = {"bos_token": "[BOS]", "eos_token": "[EOS]", "pad_token": "[PAD]", "unk_token": "[UNK]"}


GPT2_EOS = "<|endoftext|>"  # GPT-2's one special token: end of a document, and the start of the next
BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # named as ours: SPECIAL_TOKENS[:5]
# A long text is encoded in chunks, in parallel: 20 MB of text in one piece took 11 s and 4.1 GB, in
# chunks of 100k characters 4.3 s and 1.6 GB (2 cores). Chunks end after a newline between two non-space
# characters, where neither pre-tokenizer can join across: GPT-2's regex ends a pre-token at such a lone
# newline, BERT's splits at every space.
_ENCODE_CHUNK_CHARS = 100_000
_SAFE_SPLIT = re.compile(r"(?<=\S\n)(?=\S)")


class HFTokenizer:
    """A pretrained Hugging Face tokenizer, run by the `tokenizers` library with transformers' settings.

    GPT-2: byte-level BPE from vocab.json + merges.txt (every text encodes), "<|endoftext|>" as both [BOS]
    and [EOS]. BERT: WordPiece from vocab.txt after BERT's normalizer (lowercasing and accent stripping
    as tokenizer_config.json says; unknown words become [UNK]), with [PAD] [UNK] [CLS] [SEP] [MASK].
    `decode` keeps special tokens in the text and returns what transformers 5's `decode` returns by default.
    """

    kind = "hf"

    def __init__(
        self,
        tokenizer: hf_tokenizers.Tokenizer,
        special_ids: dict[str, int],
        clean_up_spaces: bool = False,
        whole_file: bool = False,
    ):
        """Wraps a library tokenizer (from `from_directory`, or `load` from a workdir).

        Args:
          tokenizer: the library's tokenizer, special tokens registered, ids 0 .. V-1.
          special_ids: our names (SPECIAL_TOKENS) -> ids, for the special tokens this vocabulary has.
          clean_up_spaces: `decode` joins punctuation and contractions to the word before ("a ." -> "a."),
            as transformers does when tokenizer_config.json sets clean_up_tokenization_spaces.
          whole_file: it came from a tokenizer.json, and an export writes one (else its vocabulary files).
        """
        self.tokenizer = tokenizer
        self.special_ids = dict(special_ids)
        self.clean_up_spaces = clean_up_spaces
        self.whole_file = whole_file
        # What the file's template puts before every text (Llama's <s>; GPT-2's and Pythia's: nothing): a
        # prompt starts with it, as transformers' tokenizer(prompt) does.
        marked, plain = (tokenizer.encode("a", add_special_tokens=add).ids for add in (True, False))
        start = marked.index(plain[0]) if plain and plain[0] in marked else 0
        self.prompt_prefix = marked[:start] if marked[start:][: len(plain)] == plain else []
        vocab = tokenizer.get_vocab(with_added_tokens=True)
        self.vocab_size = len(vocab)
        self._pieces = sorted(vocab, key=vocab.get)
        assert [vocab[p] for p in self._pieces] == list(range(self.vocab_size)), "ids must be 0 .. V-1"

    @classmethod
    def from_directory(cls, directory: str) -> "HFTokenizer":
        """The tokenizer of a model directory: its tokenizer.json, which defines the whole pipeline, where there
        is one and the model is not GPT-2 or BERT; else GPT-2's vocab.json + merges.txt or BERT's vocab.txt.

        Raises:
          ValueError: none of these files is there, or one is malformed (named, with the fix).
        """
        names = ("vocab.json", "merges.txt", "vocab.txt")
        vocab_json, merges_txt, vocab_txt = (os.path.join(directory, name) for name in names)
        config_path = os.path.join(directory, "config.json")
        model_type = _read_json(config_path).get("model_type") if os.path.isfile(config_path) else None
        tokenizer_json = os.path.join(directory, TOKENIZER_FILE)
        if os.path.isfile(tokenizer_json) and model_type not in ("gpt2", "bert"):
            return _whole_file(directory)
        if os.path.isfile(vocab_json) and os.path.isfile(merges_txt):
            return _gpt2(vocab_json, merges_txt)
        if os.path.isfile(vocab_txt):
            return _bert(vocab_txt, os.path.join(directory, "tokenizer_config.json"))
        present = [name for name in names if os.path.isfile(os.path.join(directory, name))]
        raise ValueError(
            f"No tokenizer in {directory}"
            + (f" (it has only {', '.join(present)})" if present else "")
            + ": it needs tokenizer.json (with tokenizer_config.json), or vocab.json and merges.txt (GPT-2's "
            "byte-level BPE), or vocab.txt (BERT's WordPiece). Download them from the model's Hugging Face "
            f"repository, e.g. `hf download EleutherAI/pythia-70m tokenizer.json tokenizer_config.json --local-dir "
            f"{directory}`; a directory with only SentencePiece's tokenizer.model gets a tokenizer.json from "
            f"transformers: AutoTokenizer.from_pretrained('{directory}').save_pretrained('{directory}')."
        )

    @functools.cached_property
    def _tiktoken(self):
        """GPT-2's kind of BPE run by tiktoken (the same ids, 2.5 times as fast), else None."""
        return tiktoken_bpe.engine(self.tokenizer)

    def encode(self, text: str) -> np.ndarray:
        """Token ids, no special tokens added (those the text spells out are encoded as such)."""
        chunks = _encoding_chunks(text, _ENCODE_CHUNK_CHARS)
        if self._tiktoken is not None:
            return self._tiktoken(chunks)
        encodings = self.tokenizer.encode_batch_fast(chunks, add_special_tokens=False)
        return np.concatenate([np.asarray(e.ids, np.int32) for e in encodings])

    def decode(self, ids) -> str:
        text = self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=False)
        return _clean_up_tokenization(text) if self.clean_up_spaces else text

    def regular_ids(self) -> np.ndarray:
        special = set(self.special_ids.values())
        special |= {i for i, token in self.tokenizer.get_added_tokens_decoder().items() if token.special}
        return np.array([i for i in range(self.vocab_size) if i not in special], np.int32)

    def word_starts(self) -> np.ndarray:
        """[V] bool: GPT-2's pieces that begin with a space ("Ġ"); BERT's that do not continue a word ("##")."""
        model = self.tokenizer.model
        if isinstance(model, hf_tokenizers.models.WordPiece):
            return np.array([not p.startswith(model.continuing_subword_prefix) for p in self._pieces])
        # byte-level BPE shows a space as "Ġ", SentencePiece as "▁"
        return np.array([p.startswith(("Ġ", "▁")) for p in self._pieces])

    def save_vocab(self, directory: str) -> list[str]:
        """The vocabulary files it came from (vocab.json + merges.txt, or vocab.txt), for an export; one from a
        tokenizer.json is written whole by lm/convert/tokenizer.py."""
        assert not self.whole_file, "a tokenizer.json is written by lm/convert/tokenizer.py"
        return [os.path.basename(path) for path in self.tokenizer.model.save(directory)]

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "file": HF_TOKENIZER_FILE,
            "special_ids": self.special_ids,
            "clean_up_spaces": self.clean_up_spaces,
            "whole_file": self.whole_file,
        }

    def save_files(self, workdir: str) -> None:
        self.tokenizer.save(os.path.join(workdir, HF_TOKENIZER_FILE))

    @classmethod
    def from_workdir(cls, workdir: str, spec: dict) -> "HFTokenizer":
        """The tokenizer `save_files` and `to_json` (`spec`) kept in a workdir."""
        tokenizer = hf_tokenizers.Tokenizer.from_file(os.path.join(workdir, spec["file"]))
        return cls(tokenizer, spec["special_ids"], spec["clean_up_spaces"], spec.get("whole_file", False))

    def fingerprint(self) -> bytes:
        """Everything that decides the ids (for the token cache's key)."""
        return json.dumps(self.to_json(), sort_keys=True).encode() + self.tokenizer.to_str().encode()


def _encoding_chunks(text: str, size: int) -> list[str]:
    """`text` cut into pieces of at least `size` characters (but the last) at _SAFE_SPLIT points."""
    chunks, start = [], 0
    while len(text) - start > size:
        split = _SAFE_SPLIT.search(text, start + size)
        if split is None:
            break
        chunks.append(text[start : split.start()])
        start = split.start()
    chunks.append(text[start:])
    return chunks


def _gpt2(vocab_path: str, merges_path: str) -> HFTokenizer:
    """transformers' GPT2Tokenizer (its GPT2Converter): byte-level BPE, no prefix space."""
    vocab = _read_json(vocab_path)
    ids = list(vocab.values()) if isinstance(vocab, dict) else []
    if not ids or not all(isinstance(i, int) for i in ids) or sorted(ids) != list(range(len(ids))):
        raise ValueError(
            f"{vocab_path} is not a GPT-2 vocabulary: it should map each token to an id, the ids 0 .. N-1 "
            "each once. Download it again from the model's Hugging Face repository."
        )
    try:
        _, merges = hf_tokenizers.models.BPE.read_file(vocab_path, merges_path)
        bpe = hf_tokenizers.models.BPE(
            vocab, merges, dropout=None, continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False
        )
    except Exception as e:  # the library raises a plain Exception, naming the line
        raise ValueError(
            f"{merges_path} is not a GPT-2 merges file ({e}): after an optional '#version' line, each line "
            f"holds two tokens of {vocab_path} separated by one space. Download it again from the model's "
            "Hugging Face repository."
        ) from e
    tokenizer = hf_tokenizers.Tokenizer(bpe)
    tokenizer.pre_tokenizer = hf_tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = hf_tokenizers.decoders.ByteLevel()
    # Real GPT-2 has "<|endoftext|>" at the last id, 50256; a vocabulary without it gets it appended.
    tokenizer.add_special_tokens([hf_tokenizers.AddedToken(GPT2_EOS, special=True, normalized=False)])
    eos = tokenizer.token_to_id(GPT2_EOS)
    return HFTokenizer(tokenizer, {"[BOS]": eos, "[EOS]": eos})


def _bert(vocab_path: str, config_path: str) -> HFTokenizer:
    """transformers' BertTokenizer (its BertConverter): BERT's normalizer and pre-tokenizer, WordPiece.

    The settings come from tokenizer_config.json where there is one, else transformers' defaults.
    """
    try:
        vocab = hf_tokenizers.models.WordPiece.read_file(vocab_path)
    except Exception as e:  # the library raises a plain Exception
        raise ValueError(
            f"{vocab_path} is not a BERT vocabulary ({e}): it should be UTF-8 text, one token per line. "
            "Download it again from the model's Hugging Face repository."
        ) from e
    num_lines = max(vocab.values(), default=-1) + 1
    if len(vocab) != num_lines or "[UNK]" not in vocab:
        problem = f"{num_lines - len(vocab)} repeated token(s)" if len(vocab) != num_lines else "no [UNK] line"
        raise ValueError(
            f"{vocab_path} is not a BERT vocabulary: it has {problem}, but should hold one token per line, each "
            "once, [UNK] among them. Download it again from the model's Hugging Face repository."
        )
    config = _read_json(config_path) if os.path.isfile(config_path) else {}
    if not isinstance(config, dict):
        raise ValueError(f"{config_path} should hold a JSON object of settings, not a {type(config).__name__}.")

    def flag(key: str, default: bool | None) -> bool | None:
        value = config.get(key, default)
        if value is not None and not isinstance(value, bool):
            raise ValueError(f"{config_path}: {key}={value!r} should be true, false or null.")
        return value

    tokenizer = hf_tokenizers.Tokenizer(hf_tokenizers.models.WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = hf_tokenizers.normalizers.BertNormalizer(
        clean_text=True,
        handle_chinese_chars=flag("tokenize_chinese_chars", True),
        strip_accents=flag("strip_accents", None),  # None: strip when lowercasing, as BERT did
        lowercase=flag("do_lower_case", True),
    )
    tokenizer.pre_tokenizer = hf_tokenizers.pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = hf_tokenizers.decoders.WordPiece(prefix="##")
    names = [name for name in BERT_SPECIALS if name in vocab]
    tokenizer.add_special_tokens([hf_tokenizers.AddedToken(n, special=True, normalized=False) for n in names])
    special_ids = {name: vocab[name] for name in names}
    return HFTokenizer(tokenizer, special_ids, flag("clean_up_tokenization_spaces", False))


def _whole_file(directory: str) -> HFTokenizer:
    """A tokenizer.json as transformers 5 runs it, with the special tokens tokenizer_config.json names (else
    config.json's bos_token_id / eos_token_id); an encoder-decoder's [BOS] is its decoder_start_token_id."""
    path = os.path.join(directory, TOKENIZER_FILE)
    try:
        tokenizer = hf_tokenizers.Tokenizer.from_file(path)
    except Exception as e:  # the library raises a plain Exception
        raise ValueError(
            f"{path} could not be read by the tokenizers library ({e}). Download it again from the model's "
            "Hugging Face repository."
        ) from e
    if tokenizer.get_vocab_size(with_added_tokens=True) == 0:
        raise ValueError(
            f"{path} has an empty vocabulary: it would encode every text to nothing. It is not the model's "
            "tokenizer: download it again from the model's Hugging Face repository."
        )
    config_path = os.path.join(directory, TOKENIZER_CONFIG_FILE)
    settings = _read_json(config_path) if os.path.isfile(config_path) else {}
    special_ids = {}
    for key, ours in SPECIAL_NAMES.items():
        token = settings.get(key)
        token = token.get("content") if isinstance(token, dict) else token
        if token is not None and tokenizer.token_to_id(token) is not None:
            special_ids[ours] = tokenizer.token_to_id(token)
    model_config = os.path.join(directory, "config.json")
    ids = _read_json(model_config) if os.path.isfile(model_config) else {}
    for key, ours in (("bos_token_id", "[BOS]"), ("eos_token_id", "[EOS]")):
        if ours not in special_ids and isinstance(ids.get(key), int) and ids[key] < tokenizer.get_vocab_size():
            special_ids[ours] = ids[key]
    # An encoder-decoder's decoder starts from decoder_start_token_id (T5 has no BOS and starts from its pad token;
    # without the field, transformers' T5 docs say "usually the pad_token_id"): what [BOS] is to the seq2seq
    # objective and to decoding.
    start = ids.get("decoder_start_token_id", ids.get("pad_token_id"))
    if ids.get("is_encoder_decoder") and isinstance(start, int) and start < tokenizer.get_vocab_size():
        special_ids["[BOS]"] = start
    return HFTokenizer(tokenizer, special_ids, bool(settings.get("clean_up_tokenization_spaces", False)), True)


def _read_json(path: str) -> dict:
    return jsonfile.read(path, "Download it again from the model's repository.")


def _clean_up_tokenization(text: str) -> str:
    """transformers' `clean_up_tokenization` (tokenization_utils_base.py), applied after decoding."""
    for spaced, joined in (
        (" .", "."),
        (" ?", "?"),
        (" !", "!"),
        (" ,", ","),
        (" ' ", "'"),
        (" n't", "n't"),
        (" 'm", "'m"),
        (" 's", "'s"),
        (" 've", "'ve"),
        (" 're", "'re"),
    ):
        text = text.replace(spaced, joined)
    return text
