"""Connecting to Ray: a running cluster (``address``, or ``$RAY_ADDRESS``) or a local one started for the job."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from smallext.errors import ConfigError, SmallextError

__all__ = ["ShardProgress", "ray_session", "user_errors", "worker_count"]


def _ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("running on Ray needs the ray extra: pip install 'smallext[ray]'") from None
    return ray


@contextlib.contextmanager
def ray_session(address: str | None = None) -> Iterator[Any]:
    """Yield the ``ray`` module connected to a cluster.

    Args:
        address: a running cluster (``ray://HOST:10001``, ``HOST:6379`` or ``auto``); None: ``$RAY_ADDRESS`` if
            set, else a local Ray started on this machine for the job and shut down after it. A Ray this
            process already initialised (``ray.init`` by the caller) is used as it is and left running.

    Raises:
        ConfigError: Ray is not installed, or the cluster cannot be reached (the address is named).
    """
    ray = _ray()
    started = False
    if not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise ConfigError(f"cannot connect to the Ray cluster at {address or 'a new local Ray'}: {e}") from None
        started = True
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def worker_count(ray: Any, workers: int | None, cpus_each: float) -> int:
    """``workers`` as given, or as many as the cluster's CPUs hold at ``cpus_each`` CPUs each (at least 1)."""
    if workers is not None:
        if workers < 1:
            raise ConfigError(f"workers must be at least 1, got {workers}")
        return workers
    return max(1, int(ray.cluster_resources().get("CPU", 1) // cpus_each))


class ShardProgress:
    """A rich progress bar over shards (nothing when disabled); ``with`` yields the function that advances it."""

    def __init__(self, enabled: bool, total: int, done: int, what: str) -> None:
        from rich.progress import Progress

        self.bar = Progress(disable=not enabled)
        self.task = self.bar.add_task(f"{what} (shards)", total=total, completed=done)

    def __enter__(self) -> Callable[[], None]:
        self.bar.__enter__()
        return lambda: self.bar.advance(self.task)

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Re-raise a :class:`~smallext.errors.SmallextError` raised in a Ray worker as itself (Ray wraps it in its
    own exceptions), so that the CLI prints its one-line message."""
    try:
        yield
    except SmallextError:
        raise
    except Exception as e:
        seen, cur = set(), e
        while cur is not None and id(cur) not in seen:
            seen.add(id(cur))
            if isinstance(cur, SmallextError):
                raise cur from None
            cur = getattr(cur, "cause", None) or cur.__cause__
        raise
