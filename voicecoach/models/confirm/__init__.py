"""The moonshine engine's confirming head (see command_head.json; docs/moonshine.md, E22)."""
