"""Submissions: the folder format, validation, ``selbench submit`` and the verification re-run."""
