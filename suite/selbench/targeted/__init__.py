"""The targeted track: query sets, target tasks and the parts of targeted selectors.

A targeted selector gets a small query set from the target task (``ctx.query_set``, a
:class:`~selbench.targeted.query_set.QuerySet`) and picks pool examples close to it under a
data representation (LESS gradients, RDS+ hidden states, sentence embeddings: see
:mod:`selbench.representations`) and a selection rule (:mod:`selbench.rules`).
"""
