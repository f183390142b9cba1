"""The registry of server kinds the course can start: one declarative entry per kind.

Introduced in chapter 00 (the legacy server) and chapter 05 (vLLM's OpenAI-compatible
server). Everything the launcher, the command line and the tests need to know about a
kind lives in its :class:`ServerKind`; adding a kind is adding an entry to :data:`KINDS`::

    >>> KINDS["openai"].port
    8001
    >>> KINDS["openai"].shown_as
    ('vllm', 'serve')
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field

from helpers import settings

__all__ = ["KINDS", "METRICS_PORT_OFFSET", "REPLICA_PORT_OFFSET", "ServerKind", "kind_named",
           "replica_port"]

#: A server with a separate metrics port gets it here, above its own (router 8002 -> 9002).
METRICS_PORT_OFFSET = 1000
#: Chapter 10's second replica listens this far above the OpenAI server's port (8001 -> 8011).
REPLICA_PORT_OFFSET = 10


@dataclass(frozen=True)
class ServerKind:
    """How one kind of server starts, where it answers, and what it is shown as.

    ``module`` or ``console_script`` says what runs (``python -m MODULE`` or the script
    on ``PATH``); ``shown_as`` is how a learner would type the same command. Flags in
    ``device_args`` are added on that device unless the caller passes the same flag.
    """

    name: str
    title: str
    port: int  #: its local port unless ``port_variable`` says otherwise
    port_variable: str  #: the variable that moves its local port (read by ``default_port``)
    remote_variable: str  #: the variable that points at a remote one (read by ``remote_url``)
    module: str | None = None
    console_script: str | None = None
    shown_as: tuple[str, ...] = ()
    #: shown with the model first, as ``vllm serve MODEL ...`` (not ``--model MODEL``)
    shows_model_first: bool = False
    url_suffix: str = ""  #: appended to ``http://host:port`` for the handle's ``url``
    #: a request path a remote URL may end in, which the base URL drops (``/generate``)
    remote_request_path: str = ""
    #: answers 200 once the server itself is up (the router's /health also needs every
    #: server behind it healthy, so the launcher asks its /liveness)
    health_path: str = "/health"
    serves_model: bool = True  #: takes ``--model`` (a router does not)
    served_model_name: str | None = None  #: passed as ``--served-model-name``
    device_args: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: a flag naming a second port the server opens (its metrics); the launcher gives it
    #: ``port + METRICS_PORT_OFFSET`` so that two such servers never collide
    metrics_port_flag: str | None = None

    def default_port(self) -> int:
        """Its local port: ``port_variable`` if set, else :attr:`port`."""
        return settings.port(self.port_variable, self.port)

    def remote_url(self) -> str | None:
        """The base URL of a remote one (``remote_variable``), with :attr:`url_suffix`; None
        when the variable is unset."""
        url = settings.url(self.remote_variable)
        if url is None:
            return None
        if self.remote_request_path:
            url = url.removesuffix(self.remote_request_path)
        return url if url.endswith(self.url_suffix) else url + self.url_suffix

    def url(self) -> str:
        """Where a client reaches this kind: the remote one when its variable is set (a
        workshop room), else the local port, with :attr:`url_suffix`."""
        return self.remote_url() or (f"http://{settings.LOCAL_HOST}:{self.default_port()}"
                                     f"{self.url_suffix}")

    def metrics_port(self, port: int | None = None) -> int | None:
        """The port of its separate metrics endpoint when it has one (the router), for a server
        of this kind on ``port`` (default: its local port); None when its metrics are on its
        own port (vLLM's ``/metrics``)."""
        if not self.metrics_port_flag:
            return None
        return (port or self.default_port()) + METRICS_PORT_OFFSET

    def program(self) -> list[str]:
        """The start of the command line: the interpreter and module, or the console script."""
        if self.module:
            return [sys.executable, "-m", self.module]
        assert self.console_script
        return [shutil.which(self.console_script) or self.console_script]


#: Each engine's share of one GPU (vLLM's default is 0.92, so a second engine could not
#: start): the two engines of the course fit side by side on one 16 GB card (Colab's T4)
#: and on bigger ones. 0.4 of 15 GiB holds the 135M model's weights and a KV cache for
#: its whole 8,192-token context many times over.
GPU_SHARE = ("--gpu-memory-utilization", "0.4")

KINDS: dict[str, ServerKind] = {
    "legacy": ServerKind(
        name="legacy",
        title="legacy /generate server",
        port=8000,
        port_variable="VLLM_COURSE_LEGACY_PORT",
        remote_variable="VLLM_API_URL",
        remote_request_path="/generate",  # VLLM_API_URL may name the route itself
        module="helpers.api_server",
        shown_as=("python", "-m", "helpers.api_server"),
        device_args={"gpu": GPU_SHARE},  # its own CPU defaults live in helpers.api_server
    ),
    "openai": ServerKind(
        name="openai",
        title="OpenAI-compatible server (vllm serve)",
        port=8001,
        port_variable="VLLM_COURSE_OPENAI_PORT",
        remote_variable="VLLM_OPENAI_URL",
        # `vllm serve` runs this module; the CPU build's `vllm` script cannot start (it looks
        # for a distribution named `vllm`), and the older openai.api_server module is deprecated.
        module="vllm.entrypoints.launchers.api_server.entry",
        shown_as=("vllm", "serve"),
        shows_model_first=True,
        url_suffix="/v1",
        served_model_name=settings.SERVED_MODEL_NAME,
        device_args={"cpu": ("--enforce-eager",), "gpu": GPU_SHARE},
    ),
    "router": ServerKind(
        name="router",
        title="vllm-router (load balancer)",
        port=8002,
        port_variable="VLLM_COURSE_ROUTER_PORT",
        remote_variable="VLLM_ROUTER_URL",
        # The vLLM project's router (PyPI vllm-router, a Rust binary behind a Python launcher);
        # the caller names the servers it routes to: extra_args=["--worker-urls", URL, URL].
        module="vllm_router.launch_router",
        shown_as=("vllm-router",),
        serves_model=False,
        health_path="/liveness",  # its /health is 503 while a server behind it is down
        metrics_port_flag="--prometheus-port",  # its own default, 29000, would be shared
    ),
}


def replica_port(openai_port: int | None = None) -> int:
    """The port of chapter 10's second replica: above ``openai_port`` (default: the OpenAI
    server's local port). The room, chapter 10 and its checker read it here."""
    return (openai_port or KINDS["openai"].default_port()) + REPLICA_PORT_OFFSET


def kind_named(name: str) -> ServerKind:
    """The registry entry for ``name``, or a ``ValueError`` that lists the kinds."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"No server kind {name!r}; the kinds are: {', '.join(KINDS)}.") from None
