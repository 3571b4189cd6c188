"""Read-only views of the agent's state: RIB rows with best-path explanations, peers, announcements.

Everything here is pure (no I/O, no GoBGP stubs) so the API server, the CLI and the web page share it.
"""
