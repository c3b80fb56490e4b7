"""lm-evaluation-harness tasks, offline: the shipped held-out task, finding tasks, running them, writing results.

    heldout_continuation   given a passage of the run's held-out text (40 characters), which of 4 continuations
                           (20 characters) is the real one; the 3 others are passages of the same length from
                           elsewhere in that text (multiple_choice: acc, acc_norm). Written into
                           WORKDIR/harness_tasks/ as the harness's YAML + JSONL, from the run's own data
                           (config.data), the same for a seed; shorter for a model with a context under 60 tokens.
                           Its few-shot examples are questions of the same kind from the training split.

    hellaswag_local        HellaSwag (Zellers et al., 2019) from a file on disk (--hellaswag=FILE: its validation
                           set as JSONL, the fields of rowanz/hellaswag's hellaswag_val.jsonl and of Rowan/hellaswag
                           on the Hub), processed as the harness's own `hellaswag` task processes it, zero-shot:
                           which of 4 endings continues an activity's context (acc, acc_norm).

Any other task is a name the harness knows or a local YAML task in a directory passed as an include path
(`dataset_path: json`, `dataset_kwargs: {data_files: {test: FILE.jsonl}}`). The harness loads data with
Hugging Face `datasets`, which is set offline here: a task whose data is not on disk fails at once with a
message, instead of retrying a download that cannot succeed.
"""

import difflib
import json
import os
import re

import ml_collections
import numpy as np
import yaml

from lm import console
from lm.data import text
from lm.workdir_files import write_atomically

HELDOUT = "heldout_continuation"
HELLASWAG = "hellaswag_local"
HELLASWAG_FIELDS = ("activity_label", "ctx_a", "ctx_b", "endings", "label")
CONTEXT_CHARS, CONTINUATION_CHARS = 40, 20  # both fit a context of 64 characters (shakespeare_char)
NUM_CHOICES = 4
NUM_EXAMPLES = {"test": 500, "train": 100}  # test: from the eval split; train (few-shot examples): from training


def continuation_docs(
    passage_text: str,
    num_docs: int,
    rng: np.random.Generator,
    context_chars: int = CONTEXT_CHARS,
    continuation_chars: int = CONTINUATION_CHARS,
) -> list[dict]:
    """Multiple-choice documents: {"context", "choices", "label"} with choices[label] the real continuation.

    Contexts start on a grid of context + continuation spans (no two documents share text); each distractor
    is a span of the continuation's length that does not overlap the real continuation and differs from
    every other choice.

    Raises:
      ValueError: a text too short (or too repetitive) for one document.
    """
    span, L = context_chars + continuation_chars, continuation_chars
    slots = len(passage_text) // span
    if slots < 1 or len(passage_text) < 3 * L:
        raise ValueError(
            f"The text has {len(passage_text)} characters, too few for a {HELDOUT} question ({span} characters of "
            "passage and continuation, distractors from elsewhere). Use more text: a longer data.path file or a "
            "larger --config.data.val_fraction."
        )
    docs = []
    for start in np.sort(rng.choice(slots, size=min(num_docs, slots), replace=False)) * span:
        real_at = start + context_chars
        choices = [passage_text[real_at : real_at + L]]
        for _ in range(100 * NUM_CHOICES):
            other = int(rng.integers(0, len(passage_text) - L + 1))
            if abs(other - real_at) >= L and passage_text[other : other + L] not in choices:
                choices.append(passage_text[other : other + L])
            if len(choices) == NUM_CHOICES:
                break
        else:
            raise ValueError(f"The text is too repetitive for {NUM_CHOICES} different continuations of a passage.")
        order = rng.permutation(NUM_CHOICES)  # the real one (index 0) lands at a random position
        docs.append(
            {
                "context": passage_text[start:real_at],
                "choices": [choices[i] for i in order],
                "label": int(np.flatnonzero(order == 0)[0]),
            }
        )
    return docs


def write_heldout_task(data: ml_collections.ConfigDict, directory: str, max_len: int, seed: int = 0) -> str:
    """The heldout_continuation task (YAML, test.jsonl from the eval split, train.jsonl from the training
    split for few-shot examples) of the text config.data names, written into `directory`.

    Args:
      data: the run's config.data.
      directory: where the files go.
      max_len: the model's context; under 60, passage and continuation shrink to fit it (in characters, which
        is in tokens for a character model and more than enough for any other).
      seed: decides the passages, distractors and answer positions.
    Returns:
      The directory, for the harness's include path.
    """
    lengths = min(CONTEXT_CHARS, 2 * (max_len // 3)), min(CONTINUATION_CHARS, max_len // 3)
    train_text, eval_text, _ = text.read_splits(data)
    os.makedirs(directory, exist_ok=True)
    files = {}
    for split, source in (("test", eval_text), ("train", train_text)):
        docs = continuation_docs(source, NUM_EXAMPLES[split], np.random.default_rng([seed, len(files)]), *lengths)
        files[split] = os.path.abspath(os.path.join(directory, f"{split}.jsonl"))
        write_atomically(files[split], "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs))
    task = {
        "task": HELDOUT,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": files},
        "output_type": "multiple_choice",
        "training_split": "train",
        "test_split": "test",
        "doc_to_text": "context",
        "doc_to_choice": "choices",
        "doc_to_target": "label",
        "target_delimiter": "",  # the choices continue the passage's last character
        "metric_list": [{"metric": m, "aggregation": "mean", "higher_is_better": True} for m in ("acc", "acc_norm")],
        "metadata": {"version": 1.0, "source": text.source_name(data), "seed": seed, "chars": list(lengths)},
    }
    write_atomically(os.path.join(directory, f"{HELDOUT}.yaml"), yaml.safe_dump(task, sort_keys=False))
    return directory


def hellaswag_docs(path: str) -> list[dict]:
    """HellaSwag's JSONL as the harness's `hellaswag` task makes its documents (its utils.process_docs):
    {"query": "<activity>: <ctx_a> <Ctx_b>", "choices": the 4 endings, "label": the right one's index}."""
    docs = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
                missing = [k for k in HELLASWAG_FIELDS if k not in doc]
            except (json.JSONDecodeError, TypeError):
                doc, missing = None, HELLASWAG_FIELDS
            if missing:
                raise ValueError(
                    f"{path}, line {number}: not a HellaSwag example (missing {', '.join(missing)}). --hellaswag "
                    "takes HellaSwag's validation set as JSONL: rowanz/hellaswag's data/hellaswag_val.jsonl, or "
                    "Rowan/hellaswag's validation split written with to_json."
                )
            context = doc["ctx_a"] + " " + doc["ctx_b"].capitalize()
            query = _hellaswag_text(doc["activity_label"] + ": " + context)
            docs.append(
                {"query": query, "choices": [_hellaswag_text(e) for e in doc["endings"]], "label": int(doc["label"])}
            )
    return docs


def _hellaswag_text(text: str) -> str:
    """The harness's hellaswag preprocess: WikiHow's bracketed artifacts out, " [title]" as a sentence end."""
    text = text.strip().replace(" [title]", ". ")
    return re.sub(r"\[.*?\]", "", text).replace("  ", " ")


def write_hellaswag_task(source: str, directory: str) -> str:
    """hellaswag_local's YAML + JSONL in `directory`, from HellaSwag's validation JSONL `source`."""
    docs = hellaswag_docs(source)
    os.makedirs(directory, exist_ok=True)
    data = os.path.abspath(os.path.join(directory, "validation.jsonl"))
    write_atomically(data, "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs))
    task = {
        "task": HELLASWAG,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"validation": data}},
        "output_type": "multiple_choice",
        "validation_split": "validation",
        "doc_to_text": "{{query}}",
        "doc_to_choice": "choices",
        "doc_to_target": "label",
        "metric_list": [{"metric": m, "aggregation": "mean", "higher_is_better": True} for m in ("acc", "acc_norm")],
        "metadata": {"version": 1.0, "source": os.path.abspath(source)},
    }
    write_atomically(os.path.join(directory, f"{HELLASWAG}.yaml"), yaml.safe_dump(task, sort_keys=False))
    return directory


def include_paths(
    tasks: list[str],
    data: ml_collections.ConfigDict,
    workdir: str,
    max_len: int,
    extra: list[str],
    hellaswag: str | None = None,
) -> list[str]:
    """`extra` (the user's include paths), and the shipped tasks among `tasks`, written into the workdir for a
    model of context `max_len` (hellaswag_local: from the file `hellaswag`)."""
    for path in extra:
        if not os.path.isdir(path):
            raise ValueError(f"--include_path={path} is not a directory. Pass a directory of harness task YAML files.")
    paths = list(extra)
    if HELDOUT in tasks:
        paths.append(write_heldout_task(data, os.path.join(workdir, "harness_tasks", HELDOUT), max_len))
    if HELLASWAG in tasks:
        if not hellaswag or not os.path.isfile(os.path.expanduser(hellaswag)):
            raise ValueError(
                f"--tasks={HELLASWAG} reads HellaSwag's validation set from a file: pass --hellaswag=FILE (rowanz/"
                "hellaswag's data/hellaswag_val.jsonl)" + (f"; {hellaswag} is not a file." if hellaswag else ".")
            )
        source = os.path.expanduser(hellaswag)
        paths.append(write_hellaswag_task(source, os.path.join(workdir, "harness_tasks", HELLASWAG)))
    return paths


def scalars(results: dict) -> dict[str, float]:
    """The harness's numbers as metrics.jsonl keys: harness/<task>/<metric> ("acc,none" -> acc; another filter
    than none is appended: acc_<filter>), stderr included."""
    out = {}
    for task, values in results["results"].items():
        for key, value in values.items():
            metric, _, filtered = key.partition(",")
            if filtered and isinstance(value, (int, float)) and not isinstance(value, bool):
                out[f"harness/{task}/{metric}" + ("" if filtered == "none" else f"_{filtered}")] = float(value)
    return out


def offline() -> None:
    """Hugging Face datasets and Hub offline, unless the environment says otherwise (HF_DATASETS_OFFLINE=0,
    HF_HUB_OFFLINE=0 where there is a network): a missing dataset then fails at once instead of retrying."""
    for name in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):
        os.environ.setdefault(name, "1")
    import datasets
    import huggingface_hub.constants

    # Both libraries read the environment when first imported; one imported earlier in this process (by
    # the tests, say) still has the values of then.
    datasets.config.HF_HUB_OFFLINE = os.environ["HF_DATASETS_OFFLINE"].upper() in ("1", "ON", "YES", "TRUE")
    huggingface_hub.constants.HF_HUB_OFFLINE = os.environ["HF_HUB_OFFLINE"].upper() in ("1", "ON", "YES", "TRUE")


def task_manager(tasks: list[str], paths: list[str]):
    """The harness's TaskManager for `tasks`: the include paths only, or with the harness's own ~14k task
    files (a ~6 s scan) when a task is not among them.

    Raises:
      ValueError: a task name that neither knows (with the closest names).
    """
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=paths or None, include_defaults=False)
    if not all(t in manager.all_tasks or os.path.isfile(t) for t in tasks):
        manager = TaskManager(include_path=paths or None)
    for name in tasks:
        if name not in manager.all_tasks and not os.path.isfile(name):
            close = difflib.get_close_matches(name, [HELDOUT, *manager.all_tasks], n=3)
            raise ValueError(
                f"--tasks names an unknown task {name!r}" + (f" (close: {', '.join(close)})" if close else "")
                + f". Pass a task of lm-evaluation-harness, {HELDOUT} (built from the run's held-out text), or a "
                "task of your own: a YAML file in a directory given with --include_path=DIR."
            )  # fmt: skip
    return manager


def evaluate(lm, tasks: list[str], paths: list[str], num_fewshot, limit, out_dir: str) -> tuple[dict, str]:
    """lm_eval.simple_evaluate of `lm` on `tasks`; writes OUT_DIR/results.json and results.md.

    Returns:
      (the harness's results, its Markdown table).
    """
    offline()
    from lm_eval import evaluator, utils

    manager = task_manager(tasks, paths)
    try:
        results = evaluator.simple_evaluate(
            lm, tasks=list(tasks), num_fewshot=num_fewshot, limit=limit, task_manager=manager, log_samples=False
        )
    except ConnectionError as e:  # datasets' OfflineModeIsEnabled and "Couldn't reach ... on the Hub"
        raise ValueError(
            f"A task's data is not on this machine and cannot be downloaded offline ({e}). Use a local task: a YAML "
            "file with `dataset_path: json` and `dataset_kwargs: {data_files: {test: FILE.jsonl}}` in a directory "
            f"passed with --include_path=DIR (WORKDIR/harness_tasks/{HELDOUT}/ is one, built by --tasks={HELDOUT}); "
            "with a network, allow downloads with HF_DATASETS_OFFLINE=0 HF_HUB_OFFLINE=0."
        ) from e
    except FileNotFoundError as e:  # a local task's data_files
        raise ValueError(
            f"A task's data file is missing ({e}). Fix the data_files paths in the task's YAML file."
        ) from e
    table = utils.make_table(results) + (utils.make_table(results, "groups") if results.get("groups") else "")
    os.makedirs(out_dir, exist_ok=True)
    write_atomically(
        os.path.join(out_dir, "results.json"),
        json.dumps(results, indent=2, default=utils.handle_non_serializable, ensure_ascii=False),
    )
    write_atomically(os.path.join(out_dir, "results.md"), table)
    console.log(table)
    return results, table
