"""Every experiment runs at smoke size, and the launcher's modes work end to end."""

import glob
import os

import pytest

from lm import objectives, train
from lm.data import corpus, prepare, tokenizers
from lm.experiment import load as load_experiment
from lm.modes import export, score
from tests import launcher
from tests.test_bad_input import checksum

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENTS = sorted(glob.glob(os.path.join(ROOT, "experiments", "*.py")))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=os.path.basename)
def test_experiment_trains_at_smoke_size(path, tmp_path, request):
    module = load_experiment(path)
    assert "python launch.py" in module.__doc__  # the docstring gives the command
    config = module.get_config("smoke")
    if config.data.shards:  # a recipe on token shards: generated text, prepared here (GPT-2's kind of tokens)
        (tmp_path / "corpus.txt").write_text(corpus.generate(20_000)[0])
        config.data.path, config.data.shards = str(tmp_path / "corpus.txt"), str(tmp_path / "shards")
        if config.data.tokenizer == "hf":
            config.data.tokenizer_path = request.getfixturevalue("hf_gpt2_dir")
        prepare.prepare(config.data, config.data.shards, tokenizers.from_path(config.data), num_workers=1)
    elif config.data.tokenizer == "hf":  # a pretrained model's experiment: a tiny GPT-2 directory of our own
        config.init_from = request.getfixturevalue("hf_gpt2_dir")
    if objectives.get(config.objective).data in ("labels", "tags"):  # offline: a labelled file of our own
        rows = "".join(f"{'cat dog owl pig'[i % 7 :]},{i % 3}\n" for i in range(60))
        (tmp_path / "labelled.csv").write_text("text,label\n" + rows)
        config.data.path, config.data.tfds_name, config.data.task = str(tmp_path / "labelled.csv"), "", ""
    elif config.data.tfds_name:  # offline: the same text through a local file
        text = "".join(chr(32 + (i * 7) % 90) for i in range(5000))
        (tmp_path / "corpus.txt").write_text(text)
        config.data.path = str(tmp_path / "corpus.txt")
    final = train.train(config, str(tmp_path / "run"))
    assert final["eval/loss"] > 0 and 0 <= final["eval/accuracy"] <= 1


def launch(*args, cwd):
    return launcher.launch(*args, cwd=cwd)  # one device: the launcher as a user runs it


def test_launcher_train_eval_sample_and_input_errors(tmp_path):
    smoke = f"--config={ROOT}/experiments/default.py:smoke"
    trained = launch(smoke, cwd=tmp_path)  # no --workdir: workdirs/default_smoke under the cwd
    assert trained.returncode == 0, trained.stderr
    assert "eval at step 4" in trained.stdout and "--- sample 2 ---" in trained.stdout
    workdir = tmp_path / "workdirs" / "default_smoke"
    assert (workdir / "config.json").exists()

    assert len(os.listdir(workdir / "data_cache")) == 1  # the token ids, for the next launch

    evaluated = launch(smoke, f"--workdir={workdir}", "--mode=eval", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "eval/loss" in evaluated.stdout and "eval/perplexity" in evaluated.stdout

    sampled = launch(
        smoke,
        f"--workdir={workdir}",
        "--mode=sample",
        "--prompt=dog",
        "--num_samples=3",
        "--max_new_tokens=5",
        "--temperature=0",
        cwd=tmp_path,
    )
    assert sampled.returncode == 0, sampled.stderr
    samples = [line for line in sampled.stdout.splitlines() if line.startswith("dog")]
    assert len(samples) == 3 and len(set(samples)) == 1 and all(len(s) == 8 for s in samples)  # greedy

    before = sorted(os.listdir(workdir))
    for args, needle in [
        (["--prompt=dog ©"], "outside the character vocabulary"),
        (["--max_new_tokens=100"], "longer than the model's context"),
    ]:
        result = launch(smoke, f"--workdir={workdir}", "--mode=sample", *args, cwd=tmp_path)
        assert result.returncode == 1 and needle in result.stderr and "Traceback" not in result.stderr
    missing = launch(smoke, f"--workdir={tmp_path}/new", "--config.data.path=/no/such/file.txt", cwd=tmp_path)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    bad_prompt = launch(smoke, f"--workdir={tmp_path}/new", "--config.sample.prompt=©", cwd=tmp_path)
    assert bad_prompt.returncode == 1 and "outside the character vocabulary" in bad_prompt.stderr
    assert not os.path.exists(tmp_path / "new")  # not even the data cache
    assert sorted(os.listdir(workdir)) == before


def test_encoder_decoder_samples_from_its_source_and_refuses_what_it_cannot_do(tmp_path, capsys):
    """--mode=sample reads each --prompt as a source (here with beams); score and export say why not."""
    config = load_experiment(os.path.join(ROOT, "experiments", "seq2seq_tasks.py")).get_config("smoke")
    config.train.num_steps = 60
    workdir = tmp_path / "reverse"
    train.train(config, str(workdir))
    assert "bleu: sacreBLEU nrefs:1|case:mixed" in capsys.readouterr().out

    smoke = f"--config={ROOT}/experiments/seq2seq_tasks.py:smoke"
    args = ["--prompt=abc", "--prompt=zyxw", "--num_beams=3", "--num_samples=3", "--max_new_tokens=6"]
    result = launch(smoke, f"--workdir={workdir}", "--mode=sample", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    texts = [line for line in result.stdout.splitlines() if not line.startswith("---")]
    assert len(texts) == 6 and len(set(texts[:3])) == 3  # each prompt's 3 best beams, each different
    assert texts[0] != texts[3]  # the source decides the target

    before = checksum(workdir)
    with pytest.raises(ValueError, match="scores a target given a source"):
        score.score(config, str(workdir), "abc")
    with pytest.raises(ValueError, match="family='encoder_decoder' \\(GPT-2: 'transformer'\\)"):
        export.export(config, str(workdir), str(tmp_path / "hf"))
    assert checksum(workdir) == before and not os.path.exists(tmp_path / "hf")
