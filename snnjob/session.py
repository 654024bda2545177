"""The Ray session: start a local instance (token auth, 127.0.0.1) or join a cluster.

:func:`connect` is called once by the CLI before :func:`snnjob.runner.run_job`;
:func:`cluster_info` tells the driver what the cluster has (nodes, CPUs, GPUs).
"""

from __future__ import annotations

import logging
import os
import stat
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from snnjob.errors import ConfigError

log = logging.getLogger(__name__)
_RAY_START_S: float | None = None  # how long connect() took to start or join Ray


def connect(address: str | None = None, *, num_cpus: int | None = None) -> dict[str, Any]:
    """Start a local Ray instance (default) or join ``address`` (``auto`` or ``HOST:PORT``).

    A local instance runs with token authentication (``RAY_AUTH_MODE=token``; Ray writes the
    token to ``~/.ray/auth_token``, which is made private) and its dashboard on 127.0.0.1.
    """
    local = address in (None, "", "local")
    if local and "RAY_AUTH_MODE" not in os.environ:
        os.environ["RAY_AUTH_MODE"] = "token"  # read by Ray's core when it first loads
        if "ray" in sys.modules:  # Ray already loaded (e.g. under pytest): re-read the mode
            _reload_ray_auth_config()
    import ray

    warnings.filterwarnings("ignore", message=".*Pydantic v1.*")
    # Ray 2.55 announces a future change of CUDA_VISIBLE_DEVICES handling on every init;
    # snnjob relies on today's behaviour (CPU-only workers see no GPU), so the tip is noise.
    warnings.filterwarnings(
        "ignore", message="Tip: In future versions of Ray", category=FutureWarning
    )
    if ray.is_initialized():
        return cluster_info()
    t0 = time.perf_counter()
    if local:
        ray.init(
            address="local",  # a new instance, even if `ray start` left one running here
            num_cpus=num_cpus,
            include_dashboard=True,
            dashboard_host="127.0.0.1",
            logging_level=logging.WARNING,
        )
        _make_token_private()
    else:
        if num_cpus is not None:
            raise ConfigError("--num-cpus only applies to a local Ray instance (no --address)")
        ray.init(address=address, logging_level=logging.WARNING)
    global _RAY_START_S
    _RAY_START_S = time.perf_counter() - t0
    info = cluster_info()
    log.info(
        "Ray: %d node(s), %g CPU(s), %g GPU(s)%s",
        info["nodes"], info["cpus"], info["gpus"],
        f", dashboard http://{info['dashboard']}" if info.get("dashboard") else "",
    )  # fmt: skip
    return info


def _reload_ray_auth_config() -> None:
    try:
        from ray._raylet import AuthenticationTokenLoader, Config

        AuthenticationTokenLoader.instance().reset_cache()
        Config.initialize("")
    except ImportError:  # pragma: no cover - other Ray versions
        log.warning("could not switch on Ray token authentication after Ray was imported")


def _make_token_private() -> None:
    for path in (os.environ.get("RAY_AUTH_TOKEN_PATH"), Path.home() / ".ray" / "auth_token"):
        if path and Path(path).is_file():
            mode = stat.S_IMODE(Path(path).stat().st_mode)
            if mode & 0o077:
                os.chmod(path, 0o600)


def cluster_info() -> dict[str, Any]:
    """Live nodes, total CPUs and GPUs, the largest node's CPUs and the dashboard URL."""
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    res = ray.cluster_resources()
    return {
        "nodes": len(nodes),
        "cpus": float(res.get("CPU", 0)),
        "gpus": float(res.get("GPU", 0)),
        "max_node_cpus": max((n["Resources"].get("CPU", 0) for n in nodes), default=0),
        "dashboard": _dashboard_url(),
        "ray_start_s": _RAY_START_S,
    }


def _dashboard_url() -> str | None:
    """``HOST:PORT`` of the dashboard, or None when the cluster runs none."""
    try:
        from ray._private.worker import get_dashboard_url
    except ImportError:  # pragma: no cover - other Ray versions
        return None
    return get_dashboard_url() or None
