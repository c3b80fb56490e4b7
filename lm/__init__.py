"""lm: Transformer language models in JAX. launch.py (lm/cli.py, also the `lm` command) is the way in;
README.md's "Where things are" maps the files. Packages where a concern grows siblings (models/, data/,
decoding/, evaluators/, convert/); the rest of a run is one flat file per concern (config, run set-up, train
loop, step, objectives, parallel, ...).
"""
