"""Data-plane liveness of mesh members: echo through the tunnel, judged by a pure state machine."""
