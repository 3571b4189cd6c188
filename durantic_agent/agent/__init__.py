"""The agent process: composition root, lifecycle and the level-triggered controller."""
