"""GPU gauges: present with an NVIDIA GPU, absent (not zero) without one."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from legal_edge.server.gpu import GPUCollector, _nvml, register_gpu_metrics
from tests.legal_edge.helpers import client, wait_ready


def test_no_gpu_means_no_gpu_metrics(tmp_path):
    if _nvml() is not None:
        pytest.skip("this host has an NVIDIA GPU")
    assert register_gpu_metrics(CollectorRegistry()) is False
    with client(None) as c:
        wait_ready(c)
        assert "legal_edge_gpu" not in c.get("/metrics").text


@pytest.mark.gpu
def test_real_gpu_gauges():
    nvml = _nvml()
    if nvml is None:
        pytest.skip("no NVIDIA GPU")
    registry = CollectorRegistry()
    registry.register(GPUCollector(nvml))
    text = generate_latest(registry).decode()
    assert 'legal_edge_gpu_memory_total_bytes{gpu="0"' in text
    assert "legal_edge_gpu_utilization_ratio" in text
