"""The one entry point: `python launch.py --config=experiments/X.py[:ARG] [--config.KEY=V ...] [--mode=...]`.

lm/cli.py parses the flags and runs the mode, a file of lm/modes/ each (`python launch.py --help` lists them,
`--mode=NAME --help` the flags of one); `pip install -e .` also puts the same command on the PATH as `lm`.
"""

from lm import cli

if __name__ == "__main__":
    cli.run()
