"""Shared fixtures of the benchmark tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.bench.netns import NamespacePair, unavailable_reason


@pytest.fixture
def namespaces() -> Iterator[NamespacePair]:
    """Two network namespaces of our own (skipped with the reason where they are not permitted); every
    namespace, link and process in them is removed afterwards, also when the test fails."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    pair = NamespacePair()
    try:
        yield pair.open()
    finally:
        pair.close()
        assert pair.leftovers() == []
