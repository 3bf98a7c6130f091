"""Representations: what a selector computes per pool example before a rule picks from it.

- :mod:`~selbench.representations.text`: the prompt/answer strings every representation uses;
- :mod:`~selbench.representations.judge_rating`: Alpagasus' LLM-judge 0-5 accuracy rating;
- :mod:`~selbench.representations.ifd`: Cherry's Instruction-Following Difficulty;
- :mod:`~selbench.representations.deita`: DEITA quality / complexity scores;
- :mod:`~selbench.representations.embeddings`: pooled hidden states of a model.

Each is computed once per pool through ``ctx.services`` and cached (amortised cost).
"""
