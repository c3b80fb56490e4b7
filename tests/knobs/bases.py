"""The small base experiments the knobs are turned on (and the determinism test trains), and their data."""

import json
import random

from tokenizers import ByteLevelBPETokenizer

from lm.config import default_config, shrink_to_smoke
from lm.data import prepare

WORDS = "cat dog owl pig cow hen fog elk yak emu ram bee ant".split()  # the built-in corpus' letters


def write_data(directory) -> None:
    """Labelled, tagged and paired examples and a small play, each in two versions of its fields."""
    rng = random.Random(0)
    rows, tags, pairs = [], [], []
    for i in range(60):
        words = [rng.choice(WORDS) for _ in range(rng.randint(2, 6))]
        rows.append({"text": " ".join(words), "other": " ".join(reversed(words)), "label": f"l{i % 3}",
                     "kind": "long" if len(words) > 3 else "short"})  # fmt: skip
        tags.append(
            {"text": words, "other": words[::-1], "label": [w[0] for w in words], "kind": [w[-1] for w in words]}
        )
        pairs.append({"source": " ".join(words), "target": " ".join(reversed(words)), "other": " ".join(sorted(words))})
    (directory / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:48]))
    (directory / "labels_eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[48:]))
    (directory / "tags.jsonl").write_text("".join(json.dumps(r) + "\n" for r in tags))
    (directory / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in pairs))
    speakers = ["ALICE", "BOB", "CAROL", "DAVE", "ERIN", "FRANK"]
    speeches = [
        f"{rng.choice(speakers[: rng.randint(1, 6)])}:\n{' '.join(rng.choices(WORDS, k=8))}.\n" for _ in range(400)
    ]
    (directory / "play.txt").write_text("\n".join(speeches))
    documents = [" ".join(rng.choices(WORDS, k=rng.randint(3, 9))) for _ in range(80)]
    (directory / "corpus.jsonl").write_text("".join(json.dumps({"text": d}) + "\n" for d in documents))
    for name, size in (("play_bpe", 300), ("other_bpe", 330)):  # GPT-2's layout: vocab.json + merges.txt
        bpe = ByteLevelBPETokenizer()
        bpe.train_from_iterator(speeches, vocab_size=size, show_progress=False)
        (directory / name).mkdir()
        bpe.save_model(str(directory / name))
    data = default_config().data
    data.path, data.shards = str(directory / "play.txt"), str(directory / "play_shards")
    prepare.prepare(data, data.shards, None, num_workers=1)  # the play as token shards (char tokenizer)
    data.path, data.shards, data.tokenizer = str(directory / "corpus.jsonl"), str(directory / "corpus_shards"), "byte"
    prepare.prepare(data, data.shards, None, num_workers=1)  # 80 documents: windows that span several
    try:
        import datasets
    except ModuleNotFoundError:  # requirements-eval.txt: the data.hf_dataset knob is skipped without it
        return
    datasets.disable_progress_bars()
    for name, texts in (("hf_corpus", documents), ("hf_other", documents[::-1][:50])):
        datasets.Dataset.from_dict({"text": texts}).save_to_disk(str(directory / name))


def smoke() -> "ml_collections.ConfigDict":  # noqa: F821
    """The causal base: the built-in corpus at the smoke size, one device, one micro-batch."""
    c = shrink_to_smoke(default_config())
    c.data.synthetic_chars = 5_000
    c.optim.warmup_steps = 1
    c.train.data_parallel = False
    c.sample.prompt = "cat"
    c.sample.max_new_tokens = 6
    return c


def bases(data) -> dict:
    """name -> the base config of that setting (`data`: the directory write_data filled)."""

    def base(**fields):
        c = smoke()
        for key, value in fields.items():
            *path, name = key.split("__")
            section = c
            for p in path:
                section = section[p]
            section[name] = value
        return c

    seq2seq = dict(objective="seq2seq", data__task="reverse", data__task_examples=200, data__task_max_len=6,
                   data__source_len=8, data__seq_len=8, sample__prompt="abc")  # fmt: skip
    labels = dict(objective="classify", data__path=f"{data}/labels.jsonl")
    return {
        "causal": base(),
        "masked": base(objective="masked"),
        "masked, sentencepiece": base(objective="masked", data__tokenizer="sentencepiece", data__vocab_size=300),
        "sentencepiece": base(data__tokenizer="sentencepiece", data__vocab_size=300),
        "text file": base(data__path=f"{data}/play.txt"),
        "hf tokenizer": base(
            data__path=f"{data}/play.txt", data__tokenizer="hf", data__tokenizer_path=f"{data}/play_bpe"
        ),
        "rotary": base(model__position="rotary"),
        # llama3's rule rescales the wavelengths beyond original_max_len / low_freq_factor: 64 reaches them
        "rotary scaled": base(
            model__position="rotary", model__rope_scaling_factor=8.0, model__rope_original_max_len=64
        ),
        "llama3 rope": base(
            model__position="rotary",
            model__rope_scaling="llama3",
            model__rope_scaling_factor=8.0,
            model__rope_original_max_len=64,
        ),  # fmt: skip
        "relative": base(model__position="relative", model__relative_attention_num_buckets=8),
        "classify": base(**labels),
        "classify pairs": base(**labels, data__text_pair_field="other"),
        "classify, built-in speakers": base(
            objective="classify", data__task="shakespeare_speakers", data__path=f"{data}/play.txt", data__num_speakers=3
        ),  # fmt: skip
        "tag": base(objective="tag", data__path=f"{data}/tags.jsonl"),
        "seq2seq": base(**seq2seq),
        "seq2seq file": base(**{**seq2seq, "data__task": "", "data__path": f"{data}/pairs.jsonl"}),
        "gru": base(**seq2seq, model__family="gru"),
        "span corruption": base(objective="span_corruption", model__family="encoder_decoder", data__seq_len=64),
        "modular addition": base(data__task="modular_addition", data__modulus=7, data__seq_len=3),
        "repeated tokens": base(data__task="repeated_tokens", data__vocab_size=20),
        "tfds": base(data__tfds_name="tiny_shakespeare"),
        "shards": base(data__shards=f"{data}/corpus_shards", data__seq_len=64),
        "prepare": base(data__path=f"{data}/corpus.jsonl", data__tokenizer="byte", data__val_fraction=0.3),
        "prepare from a dataset": base(
            data__hf_dataset=f"{data}/hf_corpus", data__shards=f"{data}/hf_shards", data__tokenizer="byte"
        ),
        "estimate": base(evals="estimate", train__estimate_batches=2),
        "diverging": base(optim__learning_rate=1e12, optim__warmup_steps=0, optim__grad_clip=0.0),
        "diverging, skipping": base(
            optim__learning_rate=1e12, optim__warmup_steps=0, optim__grad_clip=0.0, train__nonfinite="skip"
        ),
        # a learning rate far too high but finite: evaluated and saved every step, one latest checkpoint kept
        "finite divergence": base(
            optim__learning_rate=3.0,
            optim__warmup_steps=0,
            train__num_steps=8,
            train__log_every=1,
            train__eval_every=1,
            train__checkpoint_every=1,
            train__keep_checkpoints=1,
            train__spike_factor=0.0,
        ),  # fmt: skip
        "mesh": base(parallel__mode="mesh", train__data_parallel=True),
        "seq2seq sampled beams": base(**seq2seq, sample__num_beams=3, sample__num_samples=2),
        # trained long enough to write some targets right (and samples that are not noise)
        "seq2seq decoded": base(**seq2seq, evals="exact_match,bleu", train__num_steps=300, optim__learning_rate=3e-3),
        "causal, trained longer": base(train__num_steps=200, optim__learning_rate=1e-2),
        "seq2seq beams": base(**seq2seq, evals="exact_match,bleu", eval_decode__num_beams=3),
        "wandb off, offline": base(log__wandb_mode="offline"),  # log.wandb turned on: an offline run appears
        "wandb offline": base(log__wandb=True, log__wandb_mode="offline", log__wandb_name="base"),
    }


def fake_tiny_shakespeare(self, split, **kwargs):
    """TFDS tiny_shakespeare as tfds.testing.mock_data serves it: a text per split, under two features."""
    import tensorflow as tf

    words = {"train": WORDS, "train[:50%]": sorted(WORDS), "validation": WORDS[::-1], "test": WORDS[::2]}[split]
    return tf.data.Dataset.from_tensor_slices({"text": [" ".join(words * 40)], "content": [" ".join(words[::-1] * 40)]})
