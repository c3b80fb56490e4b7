"""The lm-evaluation-harness adapter: its numbers equal the harness's own `hf` model (HFLM) on the same GPT-2
checkpoint, and a workdir of ours runs through --mode=harness and the registered name `lm-jax`."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

lm_eval = pytest.importorskip("lm_eval")

from lm_eval.api.instance import Instance  # noqa: E402

from lm import train  # noqa: E402
from lm.evaluators import harness, harness_task  # noqa: E402
from lm.evaluators.harness_task import HELDOUT  # noqa: E402
from lm.models import families  # noqa: E402
from lm.models.config import ModelConfig  # noqa: E402
from lm.modes import harness as harness_mode  # noqa: E402
from tests import launcher  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def ours(hf_gpt2_dir):
    return harness.HarnessLM(path=hf_gpt2_dir, batch_size=4)


@pytest.fixture(scope="module")
def reference(hf_gpt2_dir):
    pytest.importorskip("accelerate")  # the harness's hf model imports it
    from lm_eval.models.huggingface import HFLM

    return HFLM(pretrained=hf_gpt2_dir, device="cpu", dtype="float32", batch_size=4)


def requests(kind: str, *args_list) -> list[Instance]:
    return [Instance(kind, {}, args, i) for i, args in enumerate(args_list)]


def test_the_heldout_task_scores_as_the_harness_hf_model_does(ours, reference, tiny_config, tmp_path):
    """3-shot prompts outgrow the context of 64 tokens: left truncation is compared too."""
    harness_task.offline()
    tiny_config.data.synthetic_chars = 20_000
    directory = harness_task.write_heldout_task(tiny_config.data, str(tmp_path / "task"), ours.max_length)
    manager = harness_task.task_manager([HELDOUT], [directory])
    runs = [
        lm_eval.simple_evaluate(lm, tasks=[HELDOUT], num_fewshot=3, task_manager=manager, log_samples=True)
        for lm in (ours, reference)
    ]
    samples = [sorted(r["samples"][HELDOUT], key=lambda s: s["doc_id"]) for r in runs]
    assert len(samples[0]) == len(samples[1]) == 33  # the eval split's 2,000 characters: 33 passages of 60
    prompts = [ours.tok_encode(s["arguments"][0][0] + s["arguments"][0][1]) for s in samples[0]]
    assert max(map(len, prompts)) > ours.max_length + 1  # truncated
    scores = [np.array([[r[0] for r in s["resps"]] for s in run], dtype=object) for run in samples]
    lls = [np.array([[float(ll) for ll, _ in doc] for doc in s]) for s in scores]
    np.testing.assert_allclose(lls[0], lls[1], atol=1e-4, rtol=0)
    assert [[g for _, g in doc] for doc in scores[0]] == [[g for _, g in doc] for doc in scores[1]]
    for metric in ("acc,none", "acc_norm,none"):
        assert runs[0]["results"][HELDOUT][metric] == runs[1]["results"][HELDOUT][metric]


def test_loglikelihood_is_greedy_and_an_empty_context_as_hflm(ours, reference):
    greedy = ours.generate_until(requests("generate_until", ("cat dog", {"until": [], "max_gen_toks": 6})))[0]
    asked = requests(
        "loglikelihood", ("cat dog", greedy), ("cat dog", greedy + " owl egg"), ("cat dog", " owl"), ("", "apple bird")
    )
    got, expected = ours.loglikelihood(asked), reference.loglikelihood(asked)
    np.testing.assert_allclose([g[0] for g in got], [e[0] for e in expected], atol=1e-4, rtol=0)
    assert [g[1] for g in got] == [e[1] for e in expected] == [True, False, False, False]


def test_rolling_loglikelihood_over_windows_equals_hflm(ours, reference):
    from lm.data import corpus

    document = corpus.generate(700, seed=3)[0]
    assert len(ours.tok_encode(document)) > 3 * ours.max_length  # several windows
    asked = requests("loglikelihood_rolling", (document,), ("cat",))
    np.testing.assert_allclose(ours.loglikelihood_rolling(asked), reference.loglikelihood_rolling(asked), atol=1e-4)


def test_generate_until_equals_hflm_greedy_and_stops_at_the_until_string(ours, reference):
    contexts = ["cat dog", "apple bird cat ink", "owl"]  # different lengths: one left-padded batch
    free = ours.generate_until(requests("generate_until", *[(c, {"until": [], "max_gen_toks": 12}) for c in contexts]))
    assert free == reference.generate_until(
        requests("generate_until", *[(c, {"until": [], "max_gen_toks": 12}) for c in contexts])
    )
    text = free[1]
    stop = next(ch for i, ch in enumerate(text) if i > 0 and text.index(ch) == i)  # first seen after the start
    kwargs = {"until": [stop], "max_gen_toks": 12, "do_sample": False}
    cut = ours.generate_until(requests("generate_until", (contexts[1], kwargs)))
    assert cut == reference.generate_until(requests("generate_until", (contexts[1], kwargs)))
    assert cut == [text[: text.index(stop)]] and len(cut[0]) < len(text)
    sampled = {"until": [], "max_gen_toks": 12, "do_sample": True, "temperature": 2.0, "top_k": 50}
    assert ours.generate_until(requests("generate_until", (contexts[1], sampled))) != [text]
    with pytest.raises(ValueError, match=r"\['num_beams'\] are not supported"):
        ours.generate_until(requests("generate_until", ("cat", {"until": [], "num_beams": 2})))


def test_a_trained_workdir_runs_through_the_mode_and_the_registered_name(tiny_config, tmp_path, capsys):
    workdir = str(tmp_path / "run")
    train.train(tiny_config, workdir)
    capsys.readouterr()
    results = harness_mode.harness(tiny_config, workdir, [HELDOUT], num_fewshot=1, limit=6)["results"][HELDOUT]
    out = capsys.readouterr().out
    with open(os.path.join(workdir, "harness", "results.json")) as f:
        saved = json.load(f)
    assert saved["results"][HELDOUT]["acc,none"] == results["acc,none"] and 0 <= results["acc,none"] <= 1
    assert saved["n-shot"] == {HELDOUT: 1} and saved["n-samples"][HELDOUT] == {"original": 33, "effective": 6}
    with open(os.path.join(workdir, "harness", "results.md")) as f:
        table = f.read()
    assert f"|{HELDOUT}|" in table and "acc_norm" in table and table in out
    directory = os.path.join(workdir, "harness_tasks", HELDOUT)
    with open(os.path.join(directory, "test.jsonl")) as f:  # nano's context of 16: 10 + 5 characters
        assert {(len(d["context"]), len(d["choices"][0])) for d in map(json.loads, f)} == {(10, 5)}
    again = lm_eval.simple_evaluate(
        "lm-jax",
        f"path={workdir}",
        tasks=[HELDOUT],
        num_fewshot=1,
        limit=6,
        task_manager=harness_task.task_manager([HELDOUT], [directory]),
    )["results"][HELDOUT]
    assert (again["acc,none"], again["acc_norm,none"]) == (results["acc,none"], results["acc_norm,none"])


def test_the_launcher_evaluates_an_imported_model_without_a_checkpoint(hf_gpt2_dir, tmp_path):
    args = [f"--config={ROOT}/experiments/default.py:smoke", f"--config.init_from={hf_gpt2_dir}", "--mode=harness"]
    args += [f"--workdir={tmp_path}/w", f"--tasks={HELDOUT}", "--limit=4", "--num_fewshot=1", "--harness_batch_size=2"]
    result = launcher.launch(*args, devices=8, timeout=300)
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "w" / "harness" / "results.json") as f:
        saved = json.load(f)
    assert saved["n-samples"][HELDOUT]["effective"] == 4 and saved["n-shot"] == {HELDOUT: 1}
    assert (tmp_path / "w" / "harness" / "results.md").read_text() in result.stdout


def test_importing_lm_and_the_launcher_does_not_import_lm_eval():
    code = "import sys, launch, lm.modes, lm.run, lm.evaluators; sys.exit('lm_eval' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=120).returncode == 0


def test_a_character_model_without_special_tokens_scores_the_first_character_as_context(tiny_config):
    from lm.run import prepare

    run = prepare(tiny_config, None, restore="never")
    lm = harness.HarnessLM(model=run.model, params=run.state.params, tokenizer=run.tokenizer)
    assert lm.prefix_token_id is None
    rolled = lm.loglikelihood_rolling(requests("loglikelihood_rolling", ("cat dog owl",)))
    assert rolled == pytest.approx([lm.loglikelihood(requests("loglikelihood", ("c", "at dog owl")))[0][0]], abs=1e-5)
    with pytest.raises(ValueError, match="empty context"):
        lm.loglikelihood(requests("loglikelihood", ("", "cat")))


@pytest.mark.parametrize(
    "fields, message", [({"family": "encoder_decoder"}, "encoder_decoder model"), ({"causal": False}, "bidirectional")]
)
def test_models_that_do_not_continue_text_are_refused(fields, message):
    shape = dict(num_layers=1, num_heads=2, d_model=8, d_ff=16, vocab_size=10, max_len=8)
    with pytest.raises(ValueError, match=message):
        harness.HarnessLM(model=families.build(ModelConfig(**shape, **fields)), params={}, tokenizer=None)


HELLASWAG_ROWS = [
    {"activity_label": "Removing ice from car", "ctx_a": "Then, the man writes over the snow covering the window.",
     "ctx_b": "then", "endings": [" the man drives.", "the man [header] cleans.", "a woman walks by.", "he stops."],
     "label": "3"},
    {"activity_label": "Home and Garden", "ctx_a": "[header] How to plant a tree [title] Dig a hole.",
     "ctx_b": "make it  wide", "endings": ["a", "b [step] c", "d", "e"], "label": 0},
    {"activity_label": "Cat dog", "ctx_a": "cat dog owl", "ctx_b": "", "endings": ["cat", "dog", "owl", "pig"],
     "label": "2"},
]  # fmt: skip


def test_hellaswag_local_is_the_harness_hellaswag_task_from_a_file(tiny_config, tmp_path, capsys):
    """Its documents are those of the harness's own hellaswag task (its utils.process_docs), its numbers go to
    metrics.jsonl where a reproduction contract reads them, and a file of something else is refused."""
    import datasets
    from absl import flags
    from lm_eval.tasks.hellaswag import utils as hellaswag_utils

    from lm import experiment, metrics, verify

    source = tmp_path / "hellaswag_val.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in HELLASWAG_ROWS))
    theirs = hellaswag_utils.process_docs(
        datasets.Dataset.from_list([{**r, "label": str(r["label"])} for r in HELLASWAG_ROWS])
    )
    ours = harness_task.hellaswag_docs(str(source))
    assert [(d["query"], d["choices"], d["label"]) for d in ours] == [
        (d["query"], d["choices"], d["gold"]) for d in theirs
    ]
    assert ours[1]["query"] == "Home and Garden: How to plant a tree. Dig a hole. Make it wide"

    workdir, config = str(tmp_path / "run"), tiny_config.copy_and_resolve_references()
    config.data.tokenizer = "byte"  # HellaSwag's text has characters the built-in corpus lacks
    config.data.seq_len = 128  # a context that holds the longest question and ending
    train.train(config, workdir)
    with pytest.raises(ValueError, match="pass --hellaswag=FILE"):
        harness_mode.harness(config, workdir, [harness_task.HELLASWAG])
    flags.FLAGS(["launch.py", f"--tasks={harness_task.HELLASWAG}", f"--hellaswag={source}"])  # as the launcher
    try:
        harness_mode.run(config, workdir, "")
    finally:
        flags.FLAGS.unparse_flags()
    with open(os.path.join(workdir, "harness", "results.json")) as f:
        results = json.load(f)["results"]
    logged = metrics.read(workdir)[-1]
    assert logged["step"] == 4 and logged["harness/hellaswag_local/acc"] == results["hellaswag_local"]["acc,none"]
    assert set(logged) >= {"harness/hellaswag_local/acc_norm", "harness/hellaswag_local/acc_stderr"}
    contract = experiment.Contract(metric="harness/hellaswag_local/acc", target=0.0, bound="at_least")
    assert verify.verify(config, workdir, contract, lambda *a: pytest.fail("trained again"))
    harness_mode.harness(config, workdir, [harness_task.HELLASWAG], hellaswag=str(source), limit=2)
    assert metrics.read(workdir)[-1] == logged  # a subset's numbers are not the task's

    source.write_text(json.dumps({"ctx": "no endings"}) + "\n")
    with pytest.raises(ValueError, match="line 1: not a HellaSwag example"):
        harness_mode.harness(config, workdir, [harness_task.HELLASWAG], hellaswag=str(source))
