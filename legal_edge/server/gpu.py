"""NVIDIA GPU gauges for ``/metrics`` via nvidia-ml-py (``pip install legal-edge[gpu]``).

Registered only when NVML loads and sees at least one GPU; on a CPU-only host (or without the
package) nothing is added, so dashboards show "no data" rather than a misleading zero.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger("legal_edge.server")


def _nvml() -> Any | None:
    """The initialised pynvml module, or None when there is no usable NVIDIA GPU."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        if pynvml.nvmlDeviceGetCount() < 1:
            return None
    except pynvml.NVMLError as exc:  # no driver / no library / no device
        log.debug("NVML unavailable: %s", exc)
        return None
    return pynvml


class GPUCollector(Collector):
    """Reads utilisation and memory of every GPU at scrape time."""

    def __init__(self, nvml: Any) -> None:
        self.nvml = nvml

    def collect(self) -> Iterator[GaugeMetricFamily]:
        nv = self.nvml
        util = GaugeMetricFamily(
            "legal_edge_gpu_utilization_ratio",
            "GPU busy share over the last sample period (0-1)",
            labels=["gpu", "name"],
        )
        used = GaugeMetricFamily(
            "legal_edge_gpu_memory_used_bytes", "GPU memory in use", labels=["gpu", "name"]
        )
        total = GaugeMetricFamily(
            "legal_edge_gpu_memory_total_bytes", "GPU memory size", labels=["gpu", "name"]
        )
        try:
            for i in range(nv.nvmlDeviceGetCount()):
                h = nv.nvmlDeviceGetHandleByIndex(i)
                name = nv.nvmlDeviceGetName(h)
                name = name.decode() if isinstance(name, bytes) else str(name)
                labels = [str(i), name]
                util.add_metric(labels, nv.nvmlDeviceGetUtilizationRates(h).gpu / 100.0)
                mem = nv.nvmlDeviceGetMemoryInfo(h)
                used.add_metric(labels, float(mem.used))
                total.add_metric(labels, float(mem.total))
        except nv.NVMLError as exc:  # a GPU that falls off the bus must not break /metrics
            log.warning("reading GPU metrics failed: %s", exc)
        yield from (util, used, total)


def register_gpu_metrics(registry: CollectorRegistry) -> bool:
    """Add the GPU gauges to ``registry`` when an NVIDIA GPU is present; True if added."""
    nvml = _nvml()
    if nvml is None:
        return False
    registry.register(GPUCollector(nvml))
    return True
