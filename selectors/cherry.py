"""``cherry``: Instruction-Following Difficulty with a pre-experienced model (Li et al., NAACL 2024).

As Chasing Random ran it (``scripts/cherry.sh`` + ``tianyi-lab/Cherry_LLM``):

1. **pre-experienced model**: embed every instruction with the base model (mean-pooled last
   hidden states), k-means into ``clusters`` clusters (demo script: 10), sample ``per_cluster``
   examples from each (10), and fine-tune the base model briefly on them (the spec's recipe,
   ``pre_epochs`` epochs; the paper: 100 x 10 samples, 1 epoch) through the fine-tuning stage;
2. **IFD** = loss(answer | instruction) / loss(answer) with that model, batched
   (:mod:`selbench.representations.ifd`; the original ran one example at a time), at
   ``max_length`` 512;
3. drop IFD > 1, keep the top N by IFD (:func:`selbench.rules.ifd_filter`).

Steps 1-2 depend on the pool only (k-means uses the fixed ``kmeans_seed``, not the cell's seed),
so they are cached per pool and charged as amortised cost; the selection itself is per budget.
"""

from __future__ import annotations

import numpy as np

from selbench.errors import SelbenchError
from selbench.hashing import ids_sha256
from selbench.pools.pool import Pool
from selbench.representations.embeddings import pool_embeddings
from selbench.representations.ifd import ifd_scores
from selbench.rules import ifd_filter
from selbench.selection.base import Selection, Selector
from selbench.selection.context import SelectionContext
from selbench.training.templates import get_template


def cluster_sample(embeddings: np.ndarray, clusters: int, per_cluster: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """K-means labels and up to ``per_cluster`` row indices drawn from each cluster (sorted)."""
    from sklearn.cluster import KMeans

    n = len(embeddings)
    k = max(1, min(clusters, n))
    labels = KMeans(n_clusters=k, random_state=seed, n_init=10).fit_predict(np.asarray(embeddings, dtype=np.float64))
    rng = np.random.default_rng(seed)
    picked = []
    for c in range(k):
        members = np.flatnonzero(labels == c)
        take = min(per_cluster, len(members))
        picked.append(np.sort(rng.choice(members, size=take, replace=False)))
    return labels, np.sort(np.concatenate(picked)) if picked else np.empty(0, dtype=np.int64)


class CherrySelector(Selector):
    """IFD = loss(answer | instruction) / loss(answer) with a pre-experienced model; drop IFD > 1; top-N."""

    name = "cherry"
    version = "1.0.0"
    paper = "arXiv:2308.12032"
    needs_gpu = False  # the tiny model runs on CPU; a 7B base model wants a GPU
    external_models = ()  # the spec's base model only

    def __init__(self, clusters: int = 10, per_cluster: int = 10, pre_epochs: float = 1.0, kmeans_seed: int = 0,
                 max_length: int = 512, batch_size: int = 16, max_ifd: float = 1.0, pre_experience: bool = True,
                 fallback: str = "fill") -> None:
        super().__init__(clusters=clusters, per_cluster=per_cluster, pre_epochs=pre_epochs, kmeans_seed=kmeans_seed,
                         max_length=max_length, batch_size=batch_size, max_ifd=max_ifd, pre_experience=pre_experience,
                         fallback=fallback)
        if clusters < 1 or per_cluster < 1:
            raise SelbenchError("cherry: clusters and per_cluster must be positive")
        self.clusters, self.per_cluster, self.pre_epochs = int(clusters), int(per_cluster), float(pre_epochs)
        self.kmeans_seed, self.max_length, self.batch_size = int(kmeans_seed), int(max_length), int(batch_size)
        self.max_ifd, self.pre_experience, self.fallback = float(max_ifd), bool(pre_experience), fallback

    def _pre_experienced(self, pool: Pool, ctx: SelectionContext, info: dict) -> str | None:
        """Fine-tune on a k-means sample; return the adapter folder (cached by the training stage)."""
        from selbench.cost.meter import Usage
        from selbench.training.stage import run_training

        spec = ctx.services.require_spec("cherry")
        emb, info["embeddings"] = pool_embeddings(pool, ctx, pooling="mean", text="instruction", max_length=self.max_length)
        with ctx.meter.amortised():
            _, picked = cluster_sample(emb, self.clusters, self.per_cluster, self.kmeans_seed)
        ids = [pool.data["id"][int(i)] for i in picked]
        selection = {"ids": ids, "ids_sha256": ids_sha256(ids), "budget": len(ids), "seed": self.kmeans_seed,
                     "pool": {"name": pool.name, "fingerprint": pool.fingerprint},
                     "selector": {"name": "cherry-pre-experience"}}
        recipe = spec.recipe.model_copy(update={"epochs": self.pre_epochs, "max_steps": None})
        with ctx.meter.amortised():
            art = run_training(selection, spec, ctx.services.cache_dir / "cherry-pre-experience", pool=pool,
                               recipe=recipe, progress=False)
        cost = art.record.get("cost") or {}
        if art.reused:  # trained earlier: charge what it cost then
            ctx.meter.add_usage(Usage(**cost.get("per_budget", {})).merge(Usage(**cost.get("amortised", {}))), "amortised")
        else:  # time was measured here; add the work the trainer counted
            total = cost.get("total", {})
            ctx.meter.add_usage(Usage(tokens=int(total.get("tokens", 0)), flops=float(total.get("flops", 0.0))), "amortised")
        info["pre_experience"] = {"examples": len(ids), "clusters": min(self.clusters, len(pool)),
                                  "epochs": self.pre_epochs, "adapter": str(art.adapter_dir), "reused": art.reused,
                                  "final_loss": (art.record.get("loss") or {}).get("final") if isinstance(art.record.get("loss"), dict) else None}
        return str(art.adapter_dir)

    def select(self, pool: Pool, budget: int, ctx: SelectionContext) -> Selection:
        spec = ctx.services.require_spec("cherry")
        info: dict = {}
        adapter = self._pre_experienced(pool, ctx, info) if self.pre_experience else None
        forward = ctx.services.forward(adapter=adapter, batch_size=self.batch_size, max_length=self.max_length)
        template = get_template(spec.recipe.template).chat_template
        ifd, info["ifd"] = ifd_scores(pool, ctx, forward, chat_template=template)
        pick = ifd_filter(ifd, budget, max_ifd=self.max_ifd, fallback=self.fallback)
        ids = pool.data["id"]
        info["rule"] = pick.info()
        return Selection(ids=[ids[int(i)] for i in pick.indices],
                         scores=[float(ifd[i]) if np.isfinite(ifd[i]) else -1.0 for i in pick.indices], info=info)
