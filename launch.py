"""The one entry point: `python launch.py --config=experiments/X.py[:ARG] [--config.KEY=V ...] [--mode=...]`.

The flags and what each mode does are in lm/cli.py (`python launch.py --help` lists them); `pip install -e .`
also puts the same command on the PATH as `lm`.
"""

from lm import cli

if __name__ == "__main__":
    cli.run()
