"""--mode=sample (lm/modes/sample.py): continuations from the checkpoint; its flags write config.sample."""

from lm.modes import sample


def test_sample_reads_the_checkpoint(tiny_config, workdir, capsys):
    tiny_config.sample.temperature = 0.0
    texts = sample.sample(tiny_config, workdir, ["cat", "dog"])
    assert len(texts) == 4 and texts[0] == texts[1] and texts[2].startswith("dog")
    assert capsys.readouterr().out.count("--- sample") == 4


def test_every_field_flag_names_a_field_of_the_sample_section(tiny_config):
    assert set(sample.FIELDS) <= set(tiny_config.sample)
