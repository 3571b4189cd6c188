"""The pure core: value types every layer shares (paths, peers, best paths, routes, RIB paths, prefixes,
communities). It imports nothing of the agent, so adapters (gobgp/, netlink/, wg/) depend only on it."""
