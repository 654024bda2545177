"""The Ray session: start a local instance (token auth, 127.0.0.1) or join a cluster.

:func:`connect` is called once by the CLI before :func:`snnjob.runner.run_job`;
:func:`cluster_info` tells the driver what the cluster has (nodes, CPUs, GPUs).
Which Ray, as ``ray.init()`` decides (:func:`ray_target`): ``--address`` when given
(``local``: a new private instance), else ``RAY_ADDRESS`` (Ray sets it for every
``ray job submit`` job), else a new private instance.

A local instance listens on 127.0.0.1 only (every Ray server: GCS, raylet, object manager,
workers, dashboard and its agents, metrics). Joining a cluster checks the address, that
something answers there and that the cluster accepts this client's token, each within
seconds, before ``ray.init`` (which otherwise retries for many minutes).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
import stat
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

from snnjob.errors import ConfigError, SnnjobError
from snnjob.results.runinfo import ClusterInfo

log = logging.getLogger(__name__)
_RAY_START_S: float | None = None  # how long connect() took to start or join Ray
PROBE_TIMEOUT_S = 5.0  # TCP connect to the GCS port
GCS_CHECK_TIMEOUT_S = 10.0  # its first RPC (Ray may wait this twice: connect, then reply)
_ADDRESS_FORMS = (
    "'auto' or HOST:PORT of the head's GCS (`ray start --head --port`, 6379 by default)"
)


class RayTarget(NamedTuple):
    """The Ray :func:`connect` uses: ``address`` None is a new private local instance."""

    address: str | None
    source: str  # "--address", "RAY_ADDRESS" or "default"
    reason: str  # for the log: which one and why


def ray_target(address: str | None, environ: Mapping[str, str]) -> RayTarget:
    """Which Ray to use, as ``ray.init()`` decides: ``address`` (``--address`` /
    ``resources.address``) when given, ``local`` meaning a new private instance whatever
    the environment; else ``RAY_ADDRESS`` (set by Ray for every ``ray job submit`` job);
    else a new private instance. Pure: reads only its arguments."""
    given = (address or "").strip()
    env = (environ.get("RAY_ADDRESS") or "").strip()
    if given == "local":
        ignored = f"; RAY_ADDRESS={env} ignored" if env else ""
        return RayTarget(None, "--address", f"--address local{ignored}")
    if given:
        return RayTarget(given, "--address", "from --address")
    if env == "local":
        return RayTarget(None, "RAY_ADDRESS", "RAY_ADDRESS=local")
    if env:
        why = "from RAY_ADDRESS, which `ray job submit` sets for its jobs; --address local "
        return RayTarget(env, "RAY_ADDRESS", why + "starts a private instance instead")
    return RayTarget(None, "default", "no --address and no RAY_ADDRESS")


def connect(address: str | None = None, *, num_cpus: int | None = None) -> ClusterInfo:
    """Join ``address`` (``auto`` or ``HOST:PORT``; ``local``: start a private local
    instance), or, without one, the cluster ``RAY_ADDRESS`` names, else start a private
    local instance (see :func:`ray_target`).

    A local instance runs with token authentication (``RAY_AUTH_MODE=token``; Ray writes the
    token to ``~/.ray/auth_token``, which is made private) and its dashboard on 127.0.0.1.
    """
    choice = ray_target(address, os.environ)
    local = choice.address is None
    address = choice.address
    shown = f"{address} (RAY_ADDRESS)" if choice.source == "RAY_ADDRESS" else str(address)
    if num_cpus is not None and (isinstance(num_cpus, bool) or num_cpus < 1):
        raise ConfigError(f"--num-cpus must be a whole number of at least 1 (got {num_cpus})")
    if not local and num_cpus is not None:
        if choice.source == "RAY_ADDRESS":
            raise ConfigError(
                f"--num-cpus only applies to a local Ray instance, and RAY_ADDRESS={address} "
                "joins a cluster; drop --num-cpus, or add --address local"
            )
        raise ConfigError("--num-cpus only applies to a local Ray instance (no --address)")
    target = None if local else _parse_address(str(address), choice.source)  # None: 'auto'
    if target is not None:
        problem = _tcp_problem(*target)
        if problem:
            hint = "; or --address local for a private local instance" if shown != address else ""
            raise SnnjobError(_unreachable(shown, problem) + hint)
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
        with _loopback_only():
            ray.init(
                address="local",  # a new instance, even with RAY_ADDRESS set
                num_cpus=num_cpus,
                include_dashboard=True,
                dashboard_host="127.0.0.1",
                _node_ip_address="127.0.0.1",
                logging_level=logging.WARNING,
            )
        _make_token_private()
    else:
        _join(str(address), target, shown)
    global _RAY_START_S
    _RAY_START_S = time.perf_counter() - t0
    info = cluster_info()
    log.info(
        "Ray: %s (%s): %d node(s), %g CPU(s), %g GPU(s)%s",
        "started a private local instance" if local else f"joined {address}", choice.reason,
        info.nodes, info.cpus, info.gpus,
        f", dashboard http://{info.dashboard}" if info.dashboard else "",
    )  # fmt: skip
    return info


def _parse_address(address: str, source: str = "--address") -> tuple[str, int] | None:
    """(host, port) of a ``HOST:PORT`` address, None for ``auto``; ConfigError otherwise,
    naming ``source`` (``--address`` or ``RAY_ADDRESS``)."""
    text = address.strip()
    if text == "auto":
        return None
    if source != "RAY_ADDRESS":
        return _host_port(text, f"--address / resources.address {address!r}")
    try:
        return _host_port(text, f"RAY_ADDRESS {address!r}")
    except ConfigError as exc:
        raise ConfigError(
            f"{exc}; or unset RAY_ADDRESS, or give --address local (a private local "
            "instance) or --address HOST:PORT"
        ) from None


def _host_port(text: str, bad: str) -> tuple[str, int]:
    """(host, port) of ``HOST:PORT`` (``[IPv6]:PORT``); ConfigError naming ``bad`` if not."""
    if "://" in text:
        scheme = text.split("://", 1)[0]
        hint = ""
        if scheme in ("http", "https"):
            hint = " (an http:// address is the dashboard / Jobs API: use `ray job submit` with it)"
        raise ConfigError(f"{bad} is a URL ({scheme}://); expected {_ADDRESS_FORMS}{hint}")
    host, colon, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]  # [IPv6]:PORT
    if not colon or not host or any(c.isspace() for c in host):
        missing = "port" if not colon else "host"
        raise ConfigError(f"{bad} has no {missing}; expected {_ADDRESS_FORMS}")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(
            f"{bad}: the port {port!r} is not a number from 1 to 65535; expected {_ADDRESS_FORMS}"
        )
    return host, int(port)


def _tcp_problem(host: str, port: int, timeout: float | None = None) -> str | None:
    """None if a TCP connection to host:port opens within ``timeout``, else why not."""
    timeout = timeout or PROBE_TIMEOUT_S
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except socket.gaierror:
        return f"the host name {host!r} does not resolve"
    except ConnectionRefusedError:
        return "connection refused"
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except OSError as exc:
        return exc.strerror or str(exc)


def _unreachable(address: str, problem: str) -> str:
    return (
        f"cannot reach a Ray cluster at {address} ({problem}): check that the cluster is "
        "running (`ray status` on its head), that the address is the head's and the port its "
        "GCS port (`ray start --head --port`, 6379 by default), and that no firewall blocks it"
    )


def _join(address: str, target: tuple[str, int] | None, shown: str) -> None:
    """``ray.init(address)`` after checking, in seconds, that a GCS answers and accepts us
    (``shown``: the address as errors name it)."""
    import ray
    from ray._private.services import canonicalize_bootstrap_address
    from ray.exceptions import AuthenticationError

    try:
        gcs = canonicalize_bootstrap_address(address)  # 'auto' -> found; 127.0.0.1 -> host IP
    except (ConnectionError, ValueError) as exc:
        flag = "--address " if shown == address else ""  # else: "auto (RAY_ADDRESS)"
        raise SnnjobError(
            f"{flag}{shown}: {exc} (with 'auto', run on the head node of a cluster started "
            "by `ray start --head`, or give HOST:PORT)"
        ) from None
    host, _, port = str(gcs).rpartition(":")
    loopback = target is not None and _is_loopback(target[0])
    if loopback and _tcp_problem(host.strip("[]"), int(port), timeout=1.0):
        # Ray dials the host's routable address for 127.0.0.1, but this head listens on
        # loopback only: keep this driver on 127.0.0.1 as well.
        gcs = address
    elif target is None and (problem := _tcp_problem(host.strip("[]"), int(port))):
        raise SnnjobError(_unreachable(f"{gcs} (found by 'auto')", problem))
    else:
        loopback = False
    _check_token(shown)
    with _loopback_only() if loopback else contextlib.nullcontext():
        _check_gcs(gcs, shown)
        try:
            ray.init(address=gcs, logging_level=logging.WARNING)
        except AuthenticationError:
            raise SnnjobError(_token_refused(shown)) from None
        except (ConnectionError, ValueError) as exc:
            raise SnnjobError(f"could not join the Ray cluster at {shown}: {exc}") from None


def _check_gcs(gcs: str, address: str) -> None:
    """One GCS call with a deadline: refused token or no GCS there -> SnnjobError."""
    try:
        from ray._raylet import InnerGcsClient
        from ray.exceptions import AuthenticationError, RayError
    except ImportError:  # pragma: no cover - other Ray versions: ray.init alone decides
        return
    with _fd2_to_debug_log():  # Ray's C++ client prints its retries on fd 2
        try:
            InnerGcsClient.standalone(gcs, None, int(GCS_CHECK_TIMEOUT_S * 1000))
        except AuthenticationError:
            raise SnnjobError(_token_refused(address)) from None
        except RayError as exc:  # RpcError: timed out, or no GCS at that port
            raise SnnjobError(
                _unreachable(address, f"no Ray GCS answered: {exc}".rstrip("."))
            ) from None
        except (TypeError, AttributeError):  # pragma: no cover - another Ray's signature
            log.debug("cannot check the GCS before ray.init with this Ray version")


def _check_token(address: str) -> None:
    """With RAY_AUTH_MODE=token, a token must be found (Ray's C++ client aborts without)."""
    if os.environ.get("RAY_AUTH_MODE") != "token":
        return
    try:
        from ray._raylet import AuthenticationTokenLoader
        from ray.exceptions import AuthenticationError
    except ImportError:  # pragma: no cover - other Ray versions
        return
    loader = AuthenticationTokenLoader.instance()
    loader.reset_cache()
    try:
        found = loader.has_token()
    except AuthenticationError:
        found = False
    if not found:
        raise SnnjobError(_token_refused(address, sent=False))


def _token_refused(address: str, sent: bool = True) -> str:
    """Why the cluster refused this client's token, naming where the token was looked for."""
    default = Path.home() / ".ray" / "auth_token"
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or default)
    if not sent:
        head = f"no authentication token for the Ray cluster at {address}"
        why = f"{path} is missing or empty"
    else:
        head = f"the Ray cluster at {address} refused this client"
        if os.environ.get("RAY_AUTH_MODE") != "token":
            why = "RAY_AUTH_MODE is not 'token' here, so no token was sent"
        elif os.environ.get("RAY_AUTH_TOKEN"):
            why = "the token in RAY_AUTH_TOKEN is not the cluster's"
        else:
            why = f"the token in {path} is not the cluster's"
    return (
        f"{head}: {why}; set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH to a copy of the "
        f"cluster's token file (mode 0600; default {default})"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def _loopback_only() -> Iterator[None]:
    """Make a Ray started or joined here advertise and bind 127.0.0.1, not the routable IP.

    Ray turns ``127.0.0.1`` into the host's routable address unless its clusters are
    "disabled" (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, read at import and inherited by the
    processes ``ray.init`` starts); with 127.0.0.1 as node IP every server binds loopback.
    """
    saved = os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    constants = sys.modules.get("ray._private.ray_constants")  # Ray read it at import
    before = getattr(constants, "ENABLE_RAY_CLUSTER", None)
    if constants is not None:
        constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
        else:
            os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = saved
        if constants is not None:
            constants.ENABLE_RAY_CLUSTER = before


@contextlib.contextmanager
def _fd2_to_debug_log() -> Iterator[None]:
    """Send what is written to file descriptor 2 meanwhile to the debug log (``-v``)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode(errors="replace").strip()
            if text:
                log.debug("Ray, while checking the cluster:\n%s", text)


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


def cluster_info() -> ClusterInfo:
    """Live nodes, total CPUs and GPUs, the largest node's CPUs and the dashboard URL."""
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    res = ray.cluster_resources()
    return ClusterInfo(
        nodes=len(nodes),
        cpus=float(res.get("CPU", 0)),
        gpus=float(res.get("GPU", 0)),
        max_node_cpus=float(max((n["Resources"].get("CPU", 0) for n in nodes), default=0)),
        dashboard=_dashboard_url(),
        ray_start_s=_RAY_START_S,
    )


def _dashboard_url() -> str | None:
    """``HOST:PORT`` of the dashboard, or None when the cluster runs none."""
    try:
        from ray._private.worker import get_dashboard_url
    except ImportError:  # pragma: no cover - other Ray versions
        return None
    return get_dashboard_url() or None
