"""The provider simulators as one ASGI app, and a way to run it beside the hub.

`cityhub simulate --port 8100 --seed 42` serves it; `serve_in_background(port, seed)` runs it
in a thread of the calling process (the demo and the tests).
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI

from cityhub.simulators import (
    agencies,
    biller_terms,
    billers,
    control,
    hospital,
    messaging,
    registry,
)
from cityhub.simulators.world import World


def create_app(seed: int = 42) -> FastAPI:
    """The simulators of every provider kind, deterministic from `seed`."""
    app = FastAPI(
        title="CityHub provider simulators",
        summary="Water, power and gas companies, traffic police, social insurance, housing "
        "fund, environment bureau, a FHIR R4 hospital, a vehicle administration, a population "
        "registry and an SMS gateway.",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.world = World(seed)
    app.state.sim = billers.SimState()
    app.state.control = control.Control(seed)
    app.state.sms = messaging.Outbox()
    app.include_router(control.router)
    app.include_router(billers.router)
    app.include_router(biller_terms.router)
    app.include_router(agencies.router)
    app.include_router(hospital.router)
    app.include_router(messaging.router)
    app.include_router(registry.router)
    app.add_middleware(control.Gate, control=app.state.control)
    return app


@dataclass
class RunningServer:
    """An ASGI app serving in a background thread."""

    url: str
    port: int
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the thread to end."""
        self.server.should_exit = True
        self.thread.join(timeout)


RunningSimulator = RunningServer


def serve_app_in_background(
    app: Any,
    port: int = 0,
    host: str = "127.0.0.1",
    timeout: float = 10.0,
    lifespan: Literal["auto", "on", "off"] = "off",
    **options: Any,
) -> RunningServer:
    """Serve an ASGI app on `host:port` (0: a free port) in a daemon thread; returns once it
    accepts connections. `lifespan="on"` runs the app's start and shutdown (the hub's embedded
    worker, its database disposed in the server's own loop). `options` go to uvicorn.Config
    (e.g. ssl_certfile)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan=lifespan,
        timeout_graceful_shutdown=1,
        access_log=False,
        **options,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"asgi:{port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"the server did not start on {host}:{port}")
        time.sleep(0.01)  # waiting on the server's own start flag, with a deadline
    scheme = "https" if options.get("ssl_certfile") else "http"
    return RunningServer(url=f"{scheme}://{host}:{port}", port=port, server=server, thread=thread)


def serve_in_background(
    port: int = 0, seed: int = 42, host: str = "127.0.0.1", timeout: float = 10.0
) -> RunningServer:
    """Start the simulators in a daemon thread of this process (the demo, the tests); call
    `.stop()` on the answer to end them."""
    return serve_app_in_background(create_app(seed), port=port, host=host, timeout=timeout)
