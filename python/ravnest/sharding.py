"""Data parallelism across clusters: each cluster trains on its own shard of the training data.

In a provider script, shard the training data with the node's cluster rank and the number of clusters
(both in its node JSON):

    meta = load_node_json_configs(name)
    train_loader = shard(train_loader, meta["rank"], meta["ring_size"])

The root (which feeds the inputs) and the leaf (which reads the labels) of one cluster must get the same
shard in the same order: they call this with the same rank on loaders built the same way (the same seeded
generator when shuffling), as the digits example does.

A provider that joins through a matchmaker learns its rank only when Node() returns; it calls `shard(loader)`
without rank and hands the result to the Node as `labels` (and to the Trainer as its loader): the Node picks the
shard of its cluster before anything iterates it.
"""

from torch.utils.data import DataLoader, RandomSampler, Subset


def shard_indices(length, rank, ring_size):
    """Sample indices of cluster `rank`: every `ring_size`-th sample from `rank` on, all shards equally long
    (the last `length % ring_size` samples are left out). Equal shards give every cluster the same number of
    batches, so every node reaches each all-reduce at the same point of training."""
    if not 0 <= rank < ring_size:
        raise ValueError(f"shard: rank {rank} is outside {ring_size} clusters")
    per_shard = length // ring_size
    if per_shard == 0:
        raise ValueError(f"shard: {length} samples cannot be split among {ring_size} clusters")
    return list(range(rank, per_shard * ring_size, ring_size))


class ClusterShard:
    """`data`'s shard for a cluster not known yet: the Node that receives it as `labels` or `test_labels` calls
    bind() with its rank and cluster count. Iterating it before then is an error."""

    def __init__(self, data):
        self._data = data
        self._shard = None

    def bind(self, rank, ring_size):
        self._shard = shard(self._data, rank, ring_size)

    def _bound(self):
        if self._shard is None:
            raise RuntimeError("shard(loader) without a rank is picked by the Node it is given to as labels; "
                               "create the Node before iterating it")
        return self._shard

    def __iter__(self):
        return iter(self._bound())

    def __len__(self):
        return len(self._bound())

    def __getattr__(self, name):  # dataset, batch_size, ... of the shard
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._bound(), name)


def shard(data, rank=None, ring_size=None):
    """Returns cluster `rank`'s shard of `data`: a Dataset becomes a Subset, a DataLoader a DataLoader over
    the shard with the same batch size, collation, workers, last-batch rule and shuffling (its generator
    included). With one cluster `data` comes back unchanged. Without `rank` and `ring_size`, a ClusterShard
    whose Node picks them."""
    if rank is None and ring_size is None:
        return ClusterShard(data)
    if rank is None or ring_size is None:
        raise ValueError("shard: give both rank and ring_size, or neither (the Node then picks them)")
    if ring_size == 1:
        return data
    if not isinstance(data, DataLoader):
        return Subset(data, shard_indices(len(data), rank, ring_size))
    if data.batch_size is None:
        raise ValueError("shard: a DataLoader with a batch_sampler cannot be sharded; shard its dataset instead")
    shuffled = isinstance(data.sampler, RandomSampler)
    return DataLoader(shard(data.dataset, rank, ring_size), batch_size=data.batch_size, shuffle=shuffled,
                      generator=data.sampler.generator if shuffled else data.generator,
                      collate_fn=data.collate_fn, num_workers=data.num_workers, drop_last=data.drop_last,
                      pin_memory=data.pin_memory)


__all__ = ["ClusterShard", "shard", "shard_indices"]
