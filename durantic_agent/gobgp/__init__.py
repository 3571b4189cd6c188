"""The gobgpd adapter: sidecar process supervision and the grpc.aio client (only place using the stubs)."""
