"""Fetch (and verify) the one file AlpacaEval's length-controlled win rate needs at run time.

alpaca-eval 0.6.6 computes the length-controlled (LC) win rate with
``alpaca_eval.metrics.glm_winrate.get_length_controlled_winrate``, which fits its GLM on
``df_gamed.csv`` (the annotations of the "gamed" baselines and each instruction's difficulty),
downloaded at run time with ``hf_hub_download(repo_id="tatsu-lab/alpaca_eval",
filename="df_gamed.csv", repo_type="dataset")`` and no pinned revision. The wheel ships no copy
(nor the ``metrics/weights/`` GLM weights, which only ``predict_winrate`` reads; selbench does not
call it). selbench computes LC only when the alpaca_eval benchmark's ``options.lc_df_gamed`` names
a local copy, so the Docker image bakes one in at build time, from a pinned dataset commit,
checked against its sha256:

    python scripts/fetch_alpaca_eval_lc.py --revision COMMIT --sha256 HEX --out /opt/alpaca_eval/df_gamed.csv

Standard library only (it runs in the image before anything else needs it). Exit status 1 on a
download error or a checksum mismatch; nothing is left at ``--out`` then.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

BASE_URL = "https://huggingface.co/datasets/tatsu-lab/alpaca_eval/resolve"
FILENAME = "df_gamed.csv"


def fetch(revision: str, sha256: str, out: Path, base_url: str = BASE_URL, timeout: float = 120.0) -> Path:
    if not revision or not sha256:
        raise ValueError("both a dataset revision (commit) and the file's sha256 are required")
    url = f"{base_url.rstrip('/')}/{revision}/{FILENAME}"
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as sink, urllib.request.urlopen(url, timeout=timeout) as source:  # noqa: S310
            while chunk := source.read(1 << 20):
                digest.update(chunk)
                sink.write(chunk)
        if digest.hexdigest() != sha256.lower():
            raise ValueError(f"{url}: sha256 {digest.hexdigest()} does not match the pinned {sha256}")
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--revision", required=True, help="commit of the hub dataset tatsu-lab/alpaca_eval")
    ap.add_argument("--sha256", required=True, help="sha256 of df_gamed.csv at that commit")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--base-url", default=BASE_URL)
    args = ap.parse_args(argv)
    try:
        path = fetch(args.revision, args.sha256, args.out, args.base_url)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
