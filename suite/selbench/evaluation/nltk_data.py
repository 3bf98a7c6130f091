"""NLTK ``punkt_tab`` without a download: trained locally and cached (IFEval counts sentences).

lm-eval's IFEval module calls ``nltk.download("punkt_tab")`` at import; offline that fails
harmlessly, and the sentence counter then needs ``tokenizers/punkt_tab/english``. No package
ships it, so it is trained here with NLTK's own ``PunktTrainer`` on the project's deterministic
corpus plus common abbreviations, and written in the tab format NLTK 3.9+ reads. When a real
``punkt_tab`` is already on NLTK's path it is used instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from selbench.paths import cache_root

PUNKT_VERSION = 1
_ABBREVIATIONS = {"e.g", "i.e", "etc", "mr", "mrs", "ms", "dr", "vs", "u.s", "prof", "inc", "st", "jr", "sr", "no"}


def _existing() -> Path | None:
    try:
        import nltk

        found = nltk.data.find("tokenizers/punkt_tab/english/")
        return Path(str(found)).parents[2]
    except (LookupError, ImportError, OSError):
        return None


def ensure_punkt_tab(root: Path | None = None) -> Path:
    """An NLTK data folder with ``tokenizers/punkt_tab/english``; sets ``NLTK_DATA`` and ``nltk.data.path``."""
    import nltk

    root = root or cache_root() / "nltk_data" / f"v{PUNKT_VERSION}"
    out = root / "tokenizers" / "punkt_tab" / "english"
    if not (out / "sentence_starters.txt").is_file() and not (out / "sent_starters.txt").is_file():
        existing = _existing()
        if existing is not None:
            return existing
        from nltk.tokenize.punkt import PunktTrainer, TabEncoder

        from selbench.models.corpus import tiny_corpus

        trainer = PunktTrainer()
        trainer.INCLUDE_ALL_COLLOCS = True
        trainer.train("\n".join(tiny_corpus(200_000, 0)), finalize=True)
        params = trainer.get_params()
        params.abbrev_types |= _ABBREVIATIONS
        tmp = out.with_name(out.name + f".tmp-{os.getpid()}")
        tmp.mkdir(parents=True, exist_ok=True)
        enc = TabEncoder()
        for name, text in (("collocations.tab", enc.tups2tab(params.collocations)),
                           ("sent_starters.txt", enc.set2txt(params.sent_starters)),
                           ("abbrev_types.txt", enc.set2txt(params.abbrev_types)),
                           ("ortho_context.tab", enc.ivdict2tab(params.ortho_context))):
            (tmp / name).write_text(text, newline="")
        try:
            tmp.rename(out)
        except OSError:  # a concurrent build won
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    os.environ["NLTK_DATA"] = str(root)
    if str(root) not in nltk.data.path:
        nltk.data.path.insert(0, str(root))
    return root
