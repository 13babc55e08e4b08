"""Redis Cluster node lists as the native module takes them."""

from typing import List, Optional, Sequence, Union


def _node_urls(nodes: Union[str, Sequence[str], None]) -> Optional[List[str]]:
    """A Redis Cluster's node URLs from a list or one comma-separated string."""
    if nodes is None:
        return None
    if isinstance(nodes, str):
        nodes = nodes.split(",")
    return [str(u).strip() for u in nodes if str(u).strip()]
