"""Shared fixtures: the real content, and one real espeak-ng speech cache for the whole run."""

from __future__ import annotations

import pytest

from voicecoach.content import load_content


@pytest.fixture(autouse=True, scope="session")
def no_user_enrollment(tmp_path_factory):
    """Recognizers load the lifter's enrollment from the user data folder by default: the tests
    must not depend on whether the machine running them has one."""
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("user-data")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def content():
    return load_content()


@pytest.fixture(scope="session")
def speech_cache_dir(tmp_path_factory):
    """Phrases rendered once per test run, shared by every test that speaks."""
    return tmp_path_factory.mktemp("speech-cache")
