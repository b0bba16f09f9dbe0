"""Run the app under uvicorn with the platform's graceful shutdown.

On SIGTERM (or SIGINT): readiness turns 503 at once, the server keeps serving for
`SHUTDOWN_DRAIN_SECONDS` while Kubernetes removes the pod from the endpoints, then stops
accepting, lets in-flight requests finish (bounded by `SHUTDOWN_TIMEOUT_SECONDS`), closes
the pool and exits 0. The image has no shell for a `preStop` sleep, so the delay lives here.
A second signal during the drain skips the rest of it.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType

import uvicorn

from penvoice.config import Settings
from penvoice.health import ReadinessChecks
from penvoice.limits import bounded_httptools_protocol
from penvoice.quotas import Quotas, install_quotas
from penvoice.web.edge import Edge

log = logging.getLogger("penvoice.server")

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: Edge, drain_seconds: float) -> None:
        super().__init__(config)
        self._app = app
        self._drain_seconds = drain_seconds
        self._stop_at: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._stop_at is not None:  # a second signal: stop draining now
            self._stop_at = time.monotonic()
            return
        log.info("signal %s: draining for %.1fs", signal.Signals(sig).name, self._drain_seconds)
        readiness: ReadinessChecks | None = getattr(self._app.state, "readiness", None)
        if readiness is not None:
            readiness.draining = True
        self._stop_at = time.monotonic() + self._drain_seconds

    async def on_tick(self, counter: int) -> bool:
        if self._stop_at is not None and time.monotonic() >= self._stop_at:
            self.should_exit = True
        return await super().on_tick(counter)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Like uvicorn's, but a handled SIGTERM ends in exit code 0, not a re-raised signal."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def run(app: Edge, settings: Settings) -> None:
    install_quotas(Quotas.from_settings(settings))  # the process's QUOTA_* settings
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
        # X-Forwarded-For/-Proto are believed only from these peers (the ingress's).
        proxy_headers=True,
        forwarded_allow_ips=list(settings.forwarded_allow_ips),
        timeout_graceful_shutdown=int(settings.shutdown_timeout_seconds),
        timeout_keep_alive=95,  # longer than the proxy's idle timeout (Traefik: 90 s)
        lifespan="on",
        http=bounded_httptools_protocol(settings.max_header_bytes),
    )
    DrainingServer(config, app, settings.shutdown_drain_seconds).run()
