"""Fixtures shared by several test modules."""

import pytest


@pytest.fixture(scope="session")
def ray_local():
    """One small local Ray instance for the whole test session (Ray's own processes use memory
    and CPU: a few logical CPUs, a small object store), shut down at the end."""
    ray = pytest.importorskip("ray", reason="Ray is installed by requirements-dev.txt")
    from common import cluster

    cluster.init_local(num_cpus=3, object_store_memory=300 * 2**20, log_to_driver=False)
    yield cluster.Cluster.current()
    ray.shutdown()
