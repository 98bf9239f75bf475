"""Range fixtures shared with the range tests (real Docker, cleaned up by label)."""
from tests.test_range.conftest import docker_backend, no_leftover_ranges  # noqa: F401
