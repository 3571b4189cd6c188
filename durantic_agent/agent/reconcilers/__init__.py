"""One reconciler per kind of state the agent owns: read current state, diff it against desired, apply.

Each depends only on its port (agent/ports.py) and the core types, so tests drive it with a fake."""
