"""Plans the parallel multi-ring all-reduce that averages the model across clusters.

How it works:
- The model state that is averaged (trainable parameters and persistent buffers, BatchNorm running
  statistics included) is walked in state-dict order. In every cluster each entry has one holder: the
  node whose stage contains it.
- A ring is a maximal run of consecutive entries with the same holder in every cluster and the same
  dtype. Clusters split the model at different points, so a range one node holds may span two nodes
  of another cluster; cutting wherever any cluster changes holder gives each ring exactly one member
  per cluster, and one dtype lets a ring flatten its entries into one buffer.
- A ring's hop goes from its holder in cluster c to its holder in cluster c+1 (mod the cluster count),
  so every node knows, per ring, the next and the previous holder.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class StateEntry:
    name: str
    numel: int
    dtype: str


@dataclass(frozen=True)
class Ring:
    ring_id: int
    entries: tuple   # StateEntry, in flattening order
    holders: tuple   # node id per cluster

    @property
    def numel(self):
        return sum(entry.numel for entry in self.entries)


def averaged_state(model):
    """The StateEntries of `model` the all-reduce averages, each tensor once, in state-dict order."""
    trainable_or_buffer = {id(p) for p in model.parameters() if p.requires_grad}
    trainable_or_buffer |= {id(b) for b in model.buffers()}
    seen, entries = set(), []
    for name, tensor in model.state_dict(keep_vars=True).items():
        if id(tensor) in trainable_or_buffer and id(tensor) not in seen:
            seen.add(id(tensor))
            entries.append(StateEntry(name, tensor.numel(), str(tensor.dtype).replace("torch.", "")))
    return entries


def plan_rings(entries, holders_per_cluster):
    """Groups `entries` into Rings.

    `holders_per_cluster[c][name]` is the node id holding entry `name` in cluster c. Raises ValueError
    naming an entry that some cluster does not hold.
    """
    rings, current, current_key = [], [], None
    for entry in entries:
        missing = [c for c, holders in enumerate(holders_per_cluster) if entry.name not in holders]
        if missing:
            raise ValueError(f"no node of cluster {missing[0]} holds {entry.name}; every averaged parameter "
                             "and buffer must be used by the model's forward()")
        key = (tuple(holders[entry.name] for holders in holders_per_cluster), entry.dtype)
        if key != current_key and current:
            rings.append(Ring(len(rings), tuple(current), current_key[0]))
            current = []
        current_key = key
        current.append(entry)
    if current:
        rings.append(Ring(len(rings), tuple(current), current_key[0]))
    return rings


def rings_of_node(rings, cluster_index, node_id, addresses):
    """The JSON-ready view one node needs: its rings with their ranges and neighbouring holders."""
    ring_size = len(rings[0].holders) if rings else 1

    def holder(ring, cluster):
        node = ring.holders[cluster % ring_size]
        return {"node_id": node, "address": addresses[node]}

    return [
        {
            "ring_id": ring.ring_id,
            "params": [entry.name for entry in ring.entries],
            "numels": [entry.numel for entry in ring.entries],
            "numel": ring.numel,
            "dtype": ring.entries[0].dtype,
            "next": holder(ring, cluster_index + 1),
            "previous": holder(ring, cluster_index - 1),
        }
        for ring in rings
        if ring.holders[cluster_index] == node_id
    ]
