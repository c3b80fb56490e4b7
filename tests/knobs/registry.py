"""Every knob a user can set, with the value, the base experiment and the observation that sees it act.

Knob(value, base, seen_in): setting the field to `value` on the base experiment `base` (tests/knobs/conftest.py)
changes what `seen_in` observes (tests/knobs/effects.py):
  step        the train step's output on fixed batches (initial parameters, batches, metrics, parameters after)
  updates     the optimizer's updates
  how         how a step runs: the compiled program changes, the step's output does not (beyond rounding)
  placement   how the state spreads over the devices
  training    a whole run: records, files, checkpoints kept, what it printed, the error it stopped with
  evaluation  --mode=eval of the base trained
  samples     --mode=sample of the base `workdir` names, trained
  decoded     the decoded-text evaluators of the base trained: their metrics and the texts they decoded
  error       the run refuses the value (a field that only states what the data already decides)
  prepared    --mode=prepare's token shards of the base's corpus: their manifest and bytes
  tfds        the train step's output, with TFDS serving a fake tiny_shakespeare (tfds.testing.mock_data)
  wandb       a whole run's Weights & Biases sessions, logged offline and read back (or the error it stopped with)
Values in TRAINED (a base name) are the path of that base's trained workdir.
"""

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Knob:
    value: Any
    base: str = "causal"
    seen_in: str = "step"
    workdir: str | None = None  # samples / evaluation: the base trained (default: `base`)


@dataclasses.dataclass(frozen=True)
class Trained:
    """A value that is the path of a base's trained workdir (init_from)."""

    base: str


step, how, updates = "step", "how", "updates"
FINETUNE = "classify from causal"
LONGER = "causal, trained longer"  # sampling knobs need a model whose distributions are not flat

MODEL = {
    "size": Knob("mini"),
    "family": Knob("gru", "seq2seq"),
    "num_layers": Knob(3),
    "num_encoder_layers": Knob(3, "seq2seq"),
    "num_heads": Knob(4),
    "num_kv_heads": Knob(1),
    "d_model": Knob(48),
    "head_dim": Knob(8),
    "attention_scale": Knob(False),
    "d_ff": Knob(64),
    "vocab_size": Knob(100),
    "max_len": Knob(32),
    "causal": Knob(True, "classify"),
    "position": Knob("rotary"),
    "rope_base": Knob(500.0, "rotary"),
    "rotary_fraction": Knob(0.5, "rotary"),
    "rope_scaling": Knob("llama3", "rotary scaled"),
    "rope_scaling_factor": Knob(2.0, "rotary"),
    "rope_low_freq_factor": Knob(2.0, "llama3 rope"),
    "rope_high_freq_factor": Knob(8.0, "llama3 rope"),
    "rope_original_max_len": Knob(128, "llama3 rope"),
    "sliding_window": Knob(4),
    "relative_attention_num_buckets": Knob(4, "relative"),
    "relative_attention_max_distance": Knob(16, "relative"),
    "mlp": Knob("swiglu"),
    "gelu_approximate": Knob(False),
    "norm": Knob("rmsnorm"),
    "norm_eps": Knob(0.1),
    "norm_position": Knob("post"),
    "embedding_norm": Knob(True),
    "embedding_scale": Knob(True),
    "type_vocab_size": Knob(2),
    "use_bias": Knob(False),
    "qkv_bias": Knob(False),
    "parallel_residual": Knob(True),
    "tie_embeddings": Knob(False),
    "scale_head_input": Knob(True),
    "share_embeddings": Knob(False, "seq2seq"),
    "final_norm": Knob(False),
    "rnn_attention": Knob(False, "gru"),
    "mlm_transform": Knob(True, "masked"),
    "head_bias": Knob(True, "masked"),
    "pooling": Knob("mean", "classify"),
    "pooler_dense": Knob(False, "classify"),
    "num_classes": Knob(7, "classify", "error"),  # the labels decide it: another value is refused
    "teacher_forcing_ratio": Knob(0.5, "gru"),
    "dropout": Knob(0.1),
    "attention_dropout": Knob(0.1),
    "embedding_dropout": Knob(0.1),
    "init_std": Knob(0.05),
    "scale_residual_init": Knob(False),
    "dtype": Knob("bfloat16"),
    "scan_layers": Knob(True),  # stacked parameters, drawn from other keys than per layer
    "remat": Knob("full", seen_in=how),
    "attention": Knob("xla", seen_in=how),
}

RUN = {
    "seed": Knob(1),
    "objective": Knob("masked"),
    "evals": Knob("by_position", seen_in="evaluation"),
    "init_from": Knob(Trained("causal")),
    "finetune.load_weights": Knob(False, FINETUNE),
    "finetune.freeze_encoder": Knob(True, FINETUNE, updates),
    "finetune.encoder_lr_scale": Knob(0.5, FINETUNE, updates),
    "data.path": Knob("play.txt"),  # in the knobs' data directory
    "data.tfds_name": Knob("tiny_shakespeare", seen_in="error"),  # not on disk here: the run says so
    "data.tfds_dir": Knob("/nonexistent/tfds", "tfds", "error"),
    "data.tfds_text_key": Knob("content", "tfds", "tfds"),
    "data.train_split": Knob("train[:50%]", "tfds", "tfds"),
    "data.eval_split": Knob("test", "tfds", "tfds"),
    "data.val_fraction": Knob(0.3, "text file"),
    "data.synthetic_chars": Knob(6_000),
    "data.tokenizer": Knob("byte"),
    "data.tokenizer_path": Knob("other_bpe", "hf tokenizer"),  # byte-level BPEs trained on the play
    "data.shards": Knob("play_shards", "text file"),  # the play, prepared into shards in the knobs' data directory
    "data.hf_dataset": Knob("hf_other", "prepare from a dataset", "prepared"),
    "data.shard_seed": Knob(1, "prepare", "prepared"),
    "data.document_mask": Knob(True, "shards"),
    "data.vocab_size": Knob(320, "sentencepiece"),
    "data.task": Knob("repeated_tokens"),
    "data.num_speakers": Knob(2, "classify, built-in speakers"),
    "data.speakers": Knob("ALICE,BOB", "classify, built-in speakers"),
    "data.text_field": Knob("other", "classify"),
    "data.text_pair_field": Knob("other", "classify"),
    "data.label_field": Knob("kind", "classify"),
    "data.eval_path": Knob("labels_eval.jsonl", "classify"),
    "data.pack": Knob(True, "classify"),
    "data.eval_fraction": Knob(0.5, "classify"),
    "data.sentencepiece_type": Knob("unigram", "sentencepiece"),
    "data.seq_len": Knob(12),
    "data.source_field": Knob("other", "seq2seq file"),
    "data.target_field": Knob("other", "seq2seq file"),
    "data.source_len": Knob(6, "seq2seq"),
    "data.task_examples": Knob(150, "seq2seq"),
    "data.task_max_len": Knob(5, "seq2seq"),
    "data.task_seed": Knob(1, "seq2seq"),
    "data.modulus": Knob(11, "modular addition"),
    "data.batch_size": Knob(4),
    "optim.learning_rate": Knob(3e-3, seen_in=updates),
    "optim.min_learning_rate": Knob(0.0, seen_in=updates),
    "optim.warmup_steps": Knob(3, seen_in=updates),
    "optim.decay_steps": Knob(2, seen_in=updates),
    "optim.b1": Knob(0.8, seen_in=updates),
    "optim.b2": Knob(0.9, seen_in=updates),
    "optim.eps": Knob(1e-3, seen_in=updates),
    "optim.weight_decay": Knob(0.5, seen_in=updates),
    "optim.decay_embeddings": Knob(True, seen_in=updates),
    "optim.grad_clip": Knob(0.0, seen_in=updates),
    "optim.grad_accum_steps": Knob(2, seen_in=how),
    "optim.label_smoothing": Knob(0.2),
    "masking.rate": Knob(0.3, "masked"),
    "masking.mask_fraction": Knob(0.5, "masked"),
    "masking.random_fraction": Knob(0.2, "masked"),
    "masking.whole_word": Knob(True, "masked, sentencepiece"),
    "span_corruption.noise_density": Knob(0.3, "span corruption"),
    "span_corruption.mean_span_length": Knob(2.0, "span corruption"),
    "train.num_steps": Knob(6, seen_in="training"),
    "train.log_every": Knob(1, seen_in="training"),
    "train.eval_every": Knob(2, seen_in="training"),
    "train.checkpoint_every": Knob(1, seen_in="training"),
    "train.keep_checkpoints": Knob(1, seen_in="training"),
    "train.eval_batch_size": Knob(4),  # the eval batches' shape (the metrics over the split stay)
    "train.estimate_batches": Knob(4, "estimate", "training"),
    "train.data_parallel": Knob(True, seen_in="placement"),
    "train.nonfinite": Knob("skip", "diverging", "training"),
    "train.max_skipped": Knob(2, "diverging, skipping", "training"),
    "train.keep_best": Knob(False, "finite divergence", "training"),
    "train.spike_factor": Knob(1.5, "finite divergence", "training"),
    "train.restore": Knob("2", seen_in="evaluation"),
    "train.profile": Knob(
        "1:2", seen_in="training"
    ),  # WORKDIR/profile, and a line printed  # the causal base trained: checkpoints 2 and 4
    "parallel.mode": Knob("mesh", seen_in="placement"),
    "parallel.data": Knob(4, "mesh", "error"),  # 4 x 1 x 1 is not the 8 devices: refused
    "parallel.fsdp": Knob(2, "mesh", "placement"),
    "parallel.tensor": Knob(2, "mesh", "placement"),
    "log.wandb": Knob(True, "wandb off, offline", "wandb"),
    "log.wandb_project": Knob("ablations", "wandb offline", "wandb"),
    "log.wandb_entity": Knob("team", "wandb offline", "wandb"),
    "log.wandb_name": Knob("first try", "wandb offline", "wandb"),
    "log.wandb_mode": Knob("online", "wandb offline", "wandb"),  # no API key here: refused, naming the fix
    "eval_decode.num_examples": Knob(2, "seq2seq decoded", "decoded"),
    "eval_decode.num_beams": Knob(2, "seq2seq decoded", "decoded"),
    "eval_decode.length_penalty": Knob(0.0, "seq2seq beams", "decoded", workdir="seq2seq decoded"),
    "eval_decode.bleu_tokenize": Knob("char", "seq2seq decoded", "decoded"),
    "sample.prompt": Knob("dog", seen_in="samples", workdir=LONGER),
    "sample.num_samples": Knob(1, seen_in="samples", workdir=LONGER),
    "sample.max_new_tokens": Knob(3, seen_in="samples", workdir=LONGER),
    "sample.temperature": Knob(1.5, seen_in="samples", workdir=LONGER),
    "sample.top_k": Knob(2, seen_in="samples", workdir=LONGER),
    "sample.top_p": Knob(0.5, seen_in="samples", workdir=LONGER),
    "sample.repetition_penalty": Knob(3.0, seen_in="samples", workdir=LONGER),
    "sample.stop_at_eos": Knob(False, "seq2seq", "samples", workdir="seq2seq decoded"),
    "sample.stop": Knob((" ",), seen_in="samples", workdir=LONGER),
    "sample.seed": Knob(1, seen_in="samples", workdir=LONGER),
    "sample.num_beams": Knob(3, seen_in="samples", workdir=LONGER),
    # beams of different lengths: the seq2seq model's targets end at EOS (the causal char model's do not)
    "sample.length_penalty": Knob(4.0, "seq2seq sampled beams", "samples", workdir="seq2seq decoded"),
}

# launch.py's flags. Those that write a config field (launch.configured): flag -> (field, value); the field's
# own effect is checked above.
FLAG_FIELDS = {
    "prompt": ("sample.prompt", "dog"),
    "num_samples": ("sample.num_samples", 5),
    "max_new_tokens": ("sample.max_new_tokens", 7),
    "temperature": ("sample.temperature", 0.5),
    "top_k": ("sample.top_k", 3),
    "top_p": ("sample.top_p", 0.9),
    "repetition_penalty": ("sample.repetition_penalty", 1.5),
    "num_beams": ("sample.num_beams", 4),
    "length_penalty": ("sample.length_penalty", 0.2),
    "stop": ("sample.stop", ("END",)),
    "sample_seed": ("sample.seed", 7),
}
HARNESS = "tests/evaluators/test_harness.py::test_the_launcher_evaluates_an_imported_model_without_a_checkpoint"
# The others act in a mode of the launcher: flag -> the test that passes the flag to launch.py and checks
# what it does (test_flags.py checks that each such test exists and passes the flag).
FLAG_TESTS = {
    "config": "tests/test_cli.py::test_overrides_reach_the_config_through_the_real_parser",
    "workdir": "tests/test_experiments.py::test_launcher_train_eval_sample_and_input_errors",
    "mode": "tests/test_experiments.py::test_launcher_train_eval_sample_and_input_errors",
    "text": "tests/modes/test_score.py::test_score_text_comes_from_exactly_one_of_two_flags",
    "text_file": "tests/knobs/test_flags.py::test_the_flags_of_score_export_and_bench_generate_act",
    "out": "tests/knobs/test_flags.py::test_the_flags_of_score_export_and_bench_generate_act",
    "step": "tests/knobs/test_flags.py::test_the_flags_of_score_export_and_bench_generate_act",
    "profile": "tests/modes/test_train.py::test_profile_traces_the_steps_it_names_into_the_workdir",
    "prompt_file": (
        "tests/modes/test_sample.py::test_a_prompt_file_is_sampled_into_records_whose_log_probability_is_the_texts_score"
    ),
    "bench_steps": "tests/test_bench.py::test_bench_mode_prints_every_figure_and_writes_nothing",
    "bench_batch_sizes": "tests/knobs/test_flags.py::test_the_flags_of_score_export_and_bench_generate_act",
    "bench_prompt_len": "tests/knobs/test_flags.py::test_the_flags_of_score_export_and_bench_generate_act",
    "bench_new_tokens": "tests/knobs/test_flags.py::test_the_flags_of_score_export_and_bench_generate_act",
    "tasks": HARNESS,
    "num_fewshot": HARNESS,
    "limit": HARNESS,
    "harness_batch_size": HARNESS,
    "include_path": (
        "tests/evaluators/test_harness_task.py::test_a_task_that_needs_a_download_fails_at_once_naming_the_local_alternative"
    ),
    "hellaswag": "tests/evaluators/test_harness.py::test_hellaswag_local_is_the_harness_hellaswag_task_from_a_file",
    "init_timeout": "tests/test_rendezvous.py::test_a_launcher_alone_stops_within_its_timeout_naming_what_is_missing",
    "sweep_index": "tests/test_sweep.py::test_the_launcher_sweeps_collates_and_verifies",
    "num_workers": "tests/modes/test_prepare.py::test_prepare_then_train_on_the_shards",
    "metric": "tests/test_sweep.py::test_the_launcher_sweeps_collates_and_verifies",
    "compare_to": "tests/test_sweep.py::test_the_launcher_sweeps_collates_and_verifies",
    "traceback": "tests/knobs/test_flags.py::test_traceback_and_distributed_change_how_the_launcher_starts_and_fails",
    "distributed": "tests/knobs/test_flags.py::test_traceback_and_distributed_change_how_the_launcher_starts_and_fails",
    "coordinator_address": "tests/test_parallel.py::test_two_processes_train_as_one_process_with_all_their_devices",
    "num_processes": "tests/test_parallel.py::test_two_processes_train_as_one_process_with_all_their_devices",
    "process_id": "tests/test_parallel.py::test_two_processes_train_as_one_process_with_all_their_devices",
}
