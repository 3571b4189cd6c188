"""User objects (announcements, policy sets, policy assignment): schema and durable store."""
