"""Shared fixtures: the real content, and one real espeak-ng speech cache for the whole run."""

from __future__ import annotations

import pytest

from voicecoach.content import load_content


@pytest.fixture(scope="session")
def content():
    return load_content()


@pytest.fixture(scope="session")
def speech_cache_dir(tmp_path_factory):
    """Phrases rendered once per test run, shared by every test that speaks."""
    return tmp_path_factory.mktemp("speech-cache")
