"""--mode=export (lm/modes/export.py): the checkpoint as Hugging Face files."""

import numpy as np

from lm import checkpoint
from lm.convert import gpt2
from lm.modes import export


def test_export_writes_gpt2_files_that_read_back_as_the_checkpoint(tiny_config, workdir, tmp_path, capsys):
    out = str(tmp_path / "hf")
    export.export(tiny_config, workdir, out)
    assert "exported step 4" in capsys.readouterr().out
    fields, params = gpt2.read(out)
    assert (fields["num_layers"], fields["d_model"]) == (2, 32)
    saved = checkpoint.Checkpointer(workdir, read_only=True).restore_params()
    np.testing.assert_array_equal(params["block_1"]["mlp"]["up"]["kernel"], saved["block_1"]["mlp"]["up"]["kernel"])
