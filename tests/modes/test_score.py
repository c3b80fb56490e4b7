"""--mode=score (lm/modes/score.py): the checkpoint's log-likelihood of a text from --text or --text_file."""

import pytest

from lm.modes import score


def test_score_reads_the_checkpoint(tiny_config, workdir, capsys):
    result = score.score(tiny_config, workdir, "cat dog owl")
    out = capsys.readouterr().out
    assert "(no context)" in out and f"{result['num_scored']} tokens scored" in out


def test_score_text_comes_from_exactly_one_of_two_flags(tmp_path):
    assert score.read_text("to be", None) == "to be"
    (tmp_path / "t.txt").write_text("or not")
    assert score.read_text(None, str(tmp_path / "t.txt")) == "or not"
    with pytest.raises(ValueError, match="exactly one of --text"):
        score.read_text("a", str(tmp_path / "t.txt"))
    with pytest.raises(ValueError, match="does not exist"):
        score.read_text(None, str(tmp_path / "missing.txt"))
