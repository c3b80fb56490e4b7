"""Bad-input cases of each mode's flags (sample, bench, harness, collate, compare, verify, sweep, prepare, eval,
score, export) and each family's inputs (encoder-decoder, GRU, masked, classifier, tagger): (id, arguments,
what the message must say)."""

from tests.bad_input import PREPARE, ROOT, S2S, F, G, M, N, S, T

CASES = [
    (
        "sample: negative temperature",
        [f"--workdir={T}", "--mode=sample", "--temperature=-1"],
        "sample.temperature=-1.0 must be >= 0",
    ),
    (
        "sample: nan temperature",
        [f"--workdir={T}", "--mode=sample", "--temperature=nan"],
        "sample.temperature=nan must be >= 0",
    ),
    ("sample: top_p 0", [f"--workdir={T}", "--mode=sample", "--top_p=0"], "sample.top_p=0.0 must be in (0, 1]"),
    ("sample: top_p 1.5", [f"--workdir={T}", "--mode=sample", "--top_p=1.5"], "sample.top_p=1.5 must be in (0, 1]"),
    ("sample: top_k -1", [f"--workdir={T}", "--mode=sample", "--top_k=-1"], "sample.top_k=-1 must be >= 0 (0 is off)"),
    (
        "sample: repetition penalty 0",
        [f"--workdir={T}", "--mode=sample", "--repetition_penalty=0"],
        "sample.repetition_penalty=0.0 must be > 0 (1 is off)",
    ),
    ("sample: 0 samples", [f"--workdir={T}", "--mode=sample", "--num_samples=0"], "sample.num_samples=0 must be > 0"),
    (
        "sample: 0 new tokens",
        [f"--workdir={T}", "--mode=sample", "--max_new_tokens=0"],
        "sample.max_new_tokens=0 must be > 0",
    ),
    (
        "sample: nan length penalty",
        [f"--workdir={T}", "--mode=sample", "--num_beams=2", "--length_penalty=nan"],
        "sample.length_penalty=nan must be >= 0",
    ),
    (
        "sample: empty stop",
        [f"--workdir={T}", "--mode=sample", "--stop="],
        "sample.stop=('',) holds an empty string, which would end every sample at once",
    ),
    (
        "sample: no checkpoint",
        ["--mode=sample", f"--workdir={N}"],
        "Train first (--mode=train) with this --workdir, or name a pretrained model with",
    ),
    (
        "bench_generate: batch 0",
        ["--mode=bench_generate", "--bench_batch_sizes=0", "--bench_prompt_len=4", "--bench_new_tokens=4"],
        "--bench_batch_sizes=0 must be whole numbers >= 1, e.g. 1,8",
    ),
    (
        "bench_generate: batch a word",
        ["--mode=bench_generate", "--bench_batch_sizes=1,a", "--bench_prompt_len=4", "--bench_new_tokens=4"],
        "--bench_batch_sizes=1,a must be whole numbers >= 1, e.g. 1,8",
    ),
    (
        "bench_generate: prompt 0",
        ["--mode=bench_generate", "--bench_prompt_len=0"],
        "--bench_prompt_len=0 must be >= 1",
    ),
    (
        "bench_generate: too long",
        ["--mode=bench_generate", "--bench_prompt_len=10", "--bench_new_tokens=100"],
        "--bench_prompt_len=10 plus --bench_new_tokens=100 is longer than the model's",
    ),
    (
        "bench: a masked model",
        ["--mode=bench_generate", "--config.objective=masked", "--bench_prompt_len=4", "--bench_new_tokens=4"],
        "--mode=bench_generate times generation, which runs left to right and needs a",
    ),
    (
        "harness: no tasks",
        [f"--workdir={T}", "--mode=harness", "--tasks="],
        "--mode=harness needs --tasks=NAME[,NAME...], e.g. --tasks=heldout_continuation",
    ),
    (
        "harness: unknown task",
        [f"--workdir={T}", "--mode=harness", "--tasks=nope_task"],
        "--tasks names an unknown task 'nope_task'",
    ),
    (
        "harness: negative few-shot",
        [f"--workdir={T}", "--mode=harness", "--tasks=lambada_openai", "--num_fewshot=-1"],
        "--num_fewshot=-1 must be >= 0, --limit=None above 0 and --harness_batch_size=16",
    ),
    (
        "harness: limit 0",
        [f"--workdir={T}", "--mode=harness", "--tasks=lambada_openai", "--limit=0"],
        "--num_fewshot=None must be >= 0, --limit=0.0 above 0 and",
    ),
    (
        "harness: batch 0",
        [f"--workdir={T}", "--mode=harness", "--tasks=lambada_openai", "--harness_batch_size=0"],
        "--num_fewshot=None must be >= 0, --limit=None above 0 and",
    ),
    (
        "harness: include path nowhere",
        [f"--workdir={T}", "--mode=harness", "--tasks=x", f"--include_path={F}/nowhere"],
        "is not a directory. Pass a directory of harness task YAML files",
    ),
    (
        "harness: hellaswag not JSON",
        [f"--workdir={T}", "--mode=harness", "--tasks=hellaswag_local", f"--hellaswag={F}/hellaswag_bad.jsonl"],
        "line 1: not a HellaSwag example (missing activity_label, ctx_a, ctx_b, endings,",
    ),
    (
        "harness: hellaswag missing",
        [f"--workdir={T}", "--mode=harness", "--tasks=hellaswag_local", f"--hellaswag={F}/nope.jsonl"],
        "--tasks=hellaswag_local reads HellaSwag's validation set from a file: pass",
    ),
    (
        "harness: no checkpoint",
        [f"--workdir={N}", "--mode=harness", "--tasks=lambada_openai"],
        "Train first (--mode=train) with this --workdir, or name a pretrained model with",
    ),
    (
        "harness: a masked model",
        [f"--workdir={M}", "--config.objective=masked", "--mode=harness", "--tasks=lambada_openai"],
        "The harness scores text left to right and needs a causal model; this one is",
    ),
    (
        "harness: a seq2seq model",
        [f"--workdir={S}", S2S, "--mode=harness", "--tasks=lambada_openai"],
        "This is a encoder_decoder model (it writes a target from a source); the harness",
    ),
    (
        "collate: nowhere",
        [f"--workdir={F}/nowhere", "--mode=collate"],
        "does not exist: run the sweep first (--mode=sweep",
    ),
    (
        "collate: empty",
        [f"--workdir={F}/empty_dir", "--mode=collate"],
        "holds no variant of a sweep (no */sweep.json): run --mode=sweep",
    ),
    (
        "collate: unknown metric",
        [f"--workdir={F}/sweep_ok", "--mode=collate", "--metric=eval/nope"],
        "eval/nope is not in the metrics.jsonl of ['seed=0']: --metric must be a logged",
    ),
    (
        "collate: cut metrics",
        [f"--workdir={F}/sweep_metrics_cut", "--mode=collate"],
        "metrics.jsonl, line 2, is not a metrics record",
    ),
    (
        "collate: a cut sweep.json",
        [f"--workdir={F}/sweep_cut", "--mode=collate"],
        "cannot be read as JSON (Unterminated string starting at: line 1 column 20 (char",
    ),
    (
        "compare: no --compare_to",
        [f"--workdir={T}", "--mode=compare"],
        "--mode=compare needs --compare_to=DIR, the workdir to set beside --workdir",
    ),
    (
        "compare: nowhere",
        [f"--workdir={T}", "--mode=compare", f"--compare_to={F}/nowhere"],
        "has no config.json: --mode=compare takes two trained workdirs",
    ),
    (
        "compare: not a run",
        [f"--workdir={T}", "--mode=compare", f"--compare_to={F}/empty_dir"],
        "has no config.json: --mode=compare takes two trained workdirs",
    ),
    (
        "verify: no contract",
        [f"--workdir={T}", "--mode=verify"],
        "declares no reproduction contract (CONTRACTS['smoke'] in the file); those it",
    ),
    (
        "sweep: no get_sweep",
        [f"--config={F}/nosweep.py", "--mode=sweep"],
        "defines no get_sweep(arg): a sweep is a list of config overrides that the",
    ),
    (
        "sweep: a dict",
        [f"--config={F}/sweep_list.py", "--mode=sweep"],
        "get_sweep returned dict {'seed': [0, 1]}; it must return a non-empty list of",
    ),
    (
        "sweep: an unknown key",
        [f"--config={F}/sweep_badkey.py", "--mode=sweep"],
        "get_sweep's variant 0: The sweep's override model.nope=1 names no config field:",
    ),
    (
        "sweep: empty",
        [f"--config={F}/sweep_empty.py", "--mode=sweep"],
        "get_sweep returned list []; it must return a non-empty list of dicts of config",
    ),
    (
        "sweep: index out of range",
        [f"--config={ROOT}/experiments/positions.py:smoke", "--mode=sweep", "--sweep_index=99"],
        "--sweep_index=99 is out of range: this sweep has 12 variants (0 to 11). A SLURM",
    ),
    (
        "config: returns None",
        [f"--config={F}/returns_none.py"],
        "returned a NoneType, not an ml_collections.ConfigDict. Start from",
    ),
    ("config: a syntax error", [f"--config={F}/syntax_error.py"], "was never closed (syntax_error.py, line 2"),
    (
        "config: no get_config",
        [f"--config={F}/no_get_config.py"],
        "unknown config key: module config_config has no attribute get_config",
    ),
    ("config: an import error", [f"--config={F}/import_error.py"], "No module named 'nonexistent_module_xyz"),
    (
        "seq2seq: unknown task",
        [S2S, "--config.data.task=translate"],
        "data.task='translate' choose shakespeare_speakers (classify), reverse, sort or",
    ),
    (
        "seq2seq: no data",
        [S2S, "--config.data.task="],
        "Sequence pairs need a source: --config.data.task=reverse|sort|add (built in),",
    ),
    (
        "seq2seq: record an array",
        [S2S, "--config.data.task=", f"--config.data.path={F}/pairs_array.jsonl"],
        "has lines that are not JSON objects: each line must be one record. Fix the file",
    ),
    (
        "seq2seq: a cut record",
        [S2S, "--config.data.task=", f"--config.data.path={F}/pairs_cut.jsonl"],
        "cannot be read as JSONL (Invalid control character at: line 1 column 14 (char",
    ),
    ("seq2seq: source_len 0", [S2S, "--config.data.source_len=0"], "data.source_len=0 must be > 0"),
    ("seq2seq: decode beams 0", [S2S, "--config.eval_decode.num_beams=0"], "eval_decode.num_beams=0 must be >= 1"),
    (
        "seq2seq: bleu tokenizer",
        [S2S, "--config.evals=bleu", "--config.eval_decode.bleu_tokenize=words"],
        "eval_decode.bleu_tokenize='words' choose one of sacreBLEU's tokenizers: none,",
    ),
    (
        "seq2seq: decode -1 examples",
        [S2S, "--config.eval_decode.num_examples=-1"],
        "eval_decode.num_examples=-1 must be >= 0 (0: all)",
    ),
    ("seq2seq: task examples 0", [S2S, "--config.data.task_examples=0"], "data.task_examples=0 must be > 0"),
    ("seq2seq: eval fraction 1", [S2S, "--config.data.eval_fraction=1.0"], "data.eval_fraction=1.0 must be in (0, 1)"),
    (
        "seq2seq: another size on resume",
        [S2S, f"--workdir={S}", "--config.model.d_model=64"],
        "holds a run of a different model (model.d_model: 32 in the workdir, 64 now;",
    ),
    (
        "seq2seq: another family on resume",
        [S2S, f"--workdir={S}", "--config.model.family=gru"],
        "holds a run of a different model (model.family: 'encoder_decoder' in the",
    ),
    (
        "seq2seq: prompt outside the vocabulary",
        [S2S, f"--workdir={S}", "--mode=sample", "--prompt=©"],
        "The prompt '©' (--prompt, or the experiment's sample.prompt:",
    ),
    (
        "seq2seq: empty prompt",
        [S2S, f"--workdir={S}", "--mode=sample", "--prompt="],
        "The prompt is empty. Pass at least one character",
    ),
    (
        "seq2seq: prompt too long",
        [S2S, f"--workdir={S}", "--mode=sample", "--prompt=abcdefghijklmnop"],
        "The source (16 tokens) is longer than the model's context of 8 tokens (its",
    ),
    (
        "seq2seq: score",
        [S2S, f"--workdir={S}", "--mode=score", "--text=abc"],
        "--mode=score reads one text under a language model; this encoder_decoder model",
    ),
    (
        "seq2seq: export",
        [S2S, f"--workdir={S}", "--mode=export", f"--out={N}"],
        "No Hugging Face family we export expresses this model: Not GPT-2, as it has",
    ),
    (
        "gru: export",
        [S2S, f"--workdir={G}", "--config.model.family=gru", "--mode=export", f"--out={N}"],
        "No Hugging Face family we export expresses this model: Not GPT-2, as it has",
    ),
    (
        "gru: beams 0",
        [S2S, f"--workdir={G}", "--config.model.family=gru", "--mode=sample", "--num_beams=0"],
        "sample.num_beams=0 must be >= 1 (1: no beams)",
    ),
    (
        "gru: too many new tokens",
        [S2S, f"--workdir={G}", "--config.model.family=gru", "--mode=sample", "--max_new_tokens=100"],
        "[BOS] plus max_new_tokens=100 is longer than the model's context of 8 tokens.",
    ),
    (
        "gru: harness",
        [S2S, f"--workdir={G}", "--config.model.family=gru", "--mode=harness", "--tasks=lambada_openai"],
        "This is a gru model (it writes a target from a source); the harness adapter",
    ),
    (
        "gru: bench_generate",
        [S2S, "--config.model.family=gru", "--mode=bench_generate", "--bench_prompt_len=4", "--bench_new_tokens=2"],
        "--mode=bench_generate times decoder-only models; model.family=gru reads a",
    ),
    (
        "gru: rotary",
        [S2S, "--config.model.family=gru", "--config.model.position=rotary"],
        "model.position='rotary' is an option of the Transformer; a GRU has none",
    ),
    (
        "gru: mesh",
        [S2S, "--config.model.family=gru", "--config.parallel.mode=mesh", "--config.parallel.tensor=2"],
        "parallel.data x fsdp x tensor = 1 x 1 x 2 must multiply to the 1 devices",
    ),
    (
        "masked: score",
        [f"--workdir={M}", "--config.objective=masked", "--mode=score", "--text=abc"],
        "Scoring reads left to right and needs a causal model; this one is bidirectional",
    ),
    (
        "masked: export",
        [f"--workdir={M}", "--config.objective=masked", "--mode=export", f"--out={N}/x"],
        "No Hugging Face family we export expresses this model: Not GPT-2, as it has",
    ),
    (
        "masked: resumed as causal",
        [f"--workdir={M}"],
        "holds a run of a different model (model.causal: False in the workdir, True now;",
    ),
    (
        "classify: no data",
        ["--config.objective=classify"],
        "Fine-tuning needs labelled data: set --config.data.path=FILE.csv|.tsv|.jsonl,",
    ),
    (
        "classify: a short row",
        ["--config.objective=classify", f"--config.data.path={F}/labels_short_row.csv"],
        "record 41 has no value for ['label']. Fix or remove that record",
    ),
    (
        "classify: header only",
        ["--config.objective=classify", f"--config.data.path={F}/labels_header_only.csv"],
        "has no records",
    ),
    (
        "classify: missing pair field",
        ["--config.objective=classify", f"--config.data.path={F}/labels.csv", "--config.data.text_pair_field=second"],
        "has no field(s) ['second'] (it has ['label', 'text']). Set",
    ),
    (
        "classify: eval file missing",
        ["--config.objective=classify", f"--config.data.path={F}/labels.csv", f"--config.data.eval_path={F}/nope.csv"],
        "does not exist. Pass a .csv or .tsv or .jsonl file with --config.data.path=FILE",
    ),
    (
        "classify: pack without first pooling",
        [
            "--config.objective=classify",
            f"--config.data.path={F}/labels_ab.csv",
            "--config.data.pack=True",
            "--config.model.pooling=mean",
        ],
        "data.pack=True needs an encoder with model.pooling=first (each packed text is",
    ),
    (
        "classify: encoder lr scale",
        ["--config.objective=classify", f"--config.data.path={F}/labels.csv", "--config.finetune.encoder_lr_scale=-1"],
        "finetune.encoder_lr_scale=-1.0 must be >= 0",
    ),
    (
        "classify: from a causal run",
        [
            "--config.objective=classify",
            f"--config.data.path={F}/labels.csv",
            f"--config.init_from={T}",
            "--config.model.pooling=nope",
        ],
        "model.pooling='nope' choose one of first, last, mean",
    ),
    (
        "tag: lengths differ",
        [
            "--config.objective=tag",
            f"--config.data.path={F}/tags_mismatch.jsonl",
            "--config.data.text_field=tokens",
            "--config.data.label_field=tags",
        ],
        "Token labels need JSONL rows whose 'tokens' is a list of words and 'tags' a",
    ),
    (
        "tag: missing field",
        ["--config.objective=tag", f"--config.data.path={F}/tags.jsonl"],
        "has no field(s) ['text', 'label'] (it has ['tags', 'tokens']). Set",
    ),
    (
        "prepare: workers 0",
        [*PREPARE, f"--config.data.path={F}/text.txt", "--num_workers=0"],
        "--num_workers=0 must be >= 1",
    ),
    (
        "prepare: a bad parquet",
        [*PREPARE, f"--config.data.path={F}/bad.parquet"],
        "cannot be read as Parquet (Parquet magic bytes not found in footer. Either the",
    ),
    (
        "prepare: jsonl without the field",
        [*PREPARE, f"--config.data.path={F}/docs.jsonl"],
        "at byte 0 has no field 'text' (it has ['body']). Set --config.data.text_field",
    ),
    (
        "prepare: jsonl arrays",
        [*PREPARE, f"--config.data.path={F}/docs_array.jsonl"],
        "at byte 0 is a JSON list, not an object with a text field",
    ),
    (
        "prepare: not a dataset",
        [*PREPARE, f"--config.data.hf_dataset={F}/empty_dir"],
        "is not a dataset that save_to_disk wrote",
    ),
    (
        "prepare: nothing to read",
        [*PREPARE, f"--config.data.path={F}/empty_dir"],
        "names no .txt, .jsonl, .parquet file (a file, a directory or a glob pattern).",
    ),
    (
        "eval: config.json a list",
        [f"--workdir={F}/config_list", "--mode=eval"],
        "holds a JSON list, not a JSON object. It records the config that trained the",
    ),
    (
        "init_from: garbage safetensors",
        [f"--config.init_from={F}/hf_dir"],
        "could not be read as safetensors (Error while deserializing header: header too",
    ),
    (
        "init_from: a file",
        [f"--config.init_from={F}/text.txt"],
        "is neither a workdir (no config.json from launch.py --mode=train) nor a Hugging",
    ),
    (
        "score: an empty text",
        [f"--workdir={T}", "--mode=score", "--text="],
        "The text has 0 token(s): nothing to score. Pass a longer --text",
    ),
    (
        "export: restore a step not saved",
        [f"--workdir={T}", "--mode=export", f"--out={N}", "--config.train.restore=3"],
        "it holds steps 2, 4. Choose one of them, best or latest",
    ),
]
