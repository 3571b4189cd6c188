"""The `durantic` commands, one module per group; cli/main.py assembles them."""
