"""Trained models shipped with voicecoach (see command_head.json)."""
