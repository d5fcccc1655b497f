"""Callbacks: signed like Plivo's (X-Plivo-Signature-V3), delivered from a bounded queue.

`sign_v3` reproduces what `plivo.utils.signature_v3.validate_v3_signature` checks, so a receiver
validating with the SDK accepts every callback. `CallbackDispatcher` sends them from worker
threads, each account from its own queue and workers: a request or the mixer only enqueues (never
waits); each URL's callbacks go out in order; a failed delivery is retried with exponential
back-off, then given up (the event itself stays in the account's event log whatever happens to
its delivery); nothing one delivery does stops a worker.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import itertools
import logging
import secrets
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse, urlunparse

import httpx

log = logging.getLogger("mpcmix.server.callbacks")

USER_AGENT = "mpcmix-callbacks/1.0 (PlivoHTTP compatible)"


# --- the V3 signature ---------------------------------------------------------------------------


def _sorted_query_string(params: Mapping[str, Any]) -> str:
    parts = []
    for key in sorted(params):
        value = params[key]
        if isinstance(value, list):
            parts.append("&".join(f"{key}={v}" for v in sorted(value)))
        else:
            parts.append(f"{key}={value}")
    return "&".join(parts)


def _sorted_params_string(params: Mapping[str, Any]) -> str:
    parts = []
    for key in sorted(params):
        value = params[key]
        if isinstance(value, list):
            parts.append("".join(f"{key}{v}" for v in sorted(value)))
        elif isinstance(value, dict):
            parts.append(f"{key}{_sorted_params_string(value)}")
        else:
            parts.append(f"{key}{value}")
    return "".join(parts)


def _base_and_query(uri: str, params: Mapping[str, Any], empty_post_params: bool) -> str:
    parsed = urlparse(uri)
    base = urlunparse((parsed.scheme, parsed.netloc, parsed.path, "", "", ""))
    merged: dict[str, Any] = dict(params)
    merged.update(parse_qs(parsed.query, keep_blank_values=True))
    query = _sorted_query_string(merged)
    if query or not empty_post_params:
        base += "?" + query
    if query and not empty_post_params:
        base += "."
    return base


def signed_string(method: str, uri: str, params: Mapping[str, str]) -> str:
    """The string Plivo's V3 signature covers (the URL, then the sorted parameters)."""
    if method.upper() == "GET":
        return _base_and_query(uri, params, True)
    return _base_and_query(uri, {}, not params) + _sorted_params_string(params)


def sign_v3(method: str, uri: str, params: Mapping[str, str], nonce: str, auth_token: str) -> str:
    """The `X-Plivo-Signature-V3` value for a callback (base64 HMAC-SHA256 with the auth token)."""
    message = f"{signed_string(method, uri, params)}.{nonce}".encode()
    digest = hmac.new(auth_token.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def new_nonce() -> str:
    return str(secrets.randbelow(10**20)).zfill(20)


def form_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Callback parameters as the receiver sees them: strings; `None` values are left out."""
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = str(value)
    return out


# --- delivery -----------------------------------------------------------------------------------


@dataclass
class Delivery:
    """One callback to send: `params` already strings; `on_done(status, detail)` reports back.

    `account` names the queue it waits in (each account has its own: see `CallbackDispatcher`).
    """

    url: str
    method: str
    params: dict[str, str]
    auth_token: str
    main_auth_token: str
    on_done: Callable[[str, dict[str, Any]], None] = lambda status, detail: None
    attempts: int = 0
    errors: list[str] = field(default_factory=list)
    account: str = ""

    def request(self) -> tuple[str, str, dict[str, str], bytes | None]:
        """(method, url, headers, body) for the next attempt, freshly signed."""
        method = "GET" if self.method.upper() == "GET" else "POST"
        nonce = new_nonce()
        headers = {
            "User-Agent": USER_AGENT,
            "X-Plivo-Signature-V3-Nonce": nonce,
            "X-Plivo-Signature-V3": sign_v3(method, self.url, self.params, nonce, self.auth_token),
            "X-Plivo-Signature-Ma-V3": sign_v3(
                method, self.url, self.params, nonce, self.main_auth_token
            ),
        }
        if method == "GET":
            parsed = urlparse(self.url)
            query = "&".join(q for q in (parsed.query, urlencode(self.params)) if q)
            return method, urlunparse(parsed._replace(query=query)), headers, None
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return method, self.url, headers, urlencode(self.params).encode("utf-8")


class _Lane:
    """One account's callbacks: a queue per URL, the URLs whose head is due, its own workers."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.queues: dict[str, deque[Delivery]] = {}
        self.ready: list[tuple[float, int, str]] = []  # (due, tie-break, url)
        self.pending = 0
        self.busy = 0
        self.threads: list[threading.Thread] = []


class CallbackDispatcher:
    """Sends callbacks: per account, per URL in order; bounded; retried with back-off.

    Each account (`Delivery.account`) has its own lane: its own queues, its own bound of
    `max_pending` callbacks and its own `workers` threads, so one account's dead, slow or
    flooded receivers never delay or drop another account's callbacks. Within a lane each URL's
    callbacks go out in order (the head is retried while the rest wait behind it). A worker
    never dies: whatever one delivery raises (a URL that cannot be parsed, a failing report) is
    that delivery's failure, and the worker goes on to the next.
    """

    def __init__(
        self,
        *,
        max_pending: int = 10000,
        attempts: int = 5,
        backoff_s: float = 0.5,
        timeout_s: float = 5.0,
        workers: int = 4,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.max_pending = max_pending
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self._workers = workers
        self._transport = transport
        self._cond = threading.Condition()
        self._lanes: dict[str, _Lane] = {}
        self._counter = itertools.count()
        self._started = False
        self._stopping = False
        self._tls: ssl.SSLContext | None = None

    def start(self) -> None:
        # One TLS context for every worker's client: making one loads the system's CA
        # certificates, 30-60 ms holding the GIL, which a lane's four workers starting at its
        # account's first callback would otherwise each spend, making the ticker late.
        self._tls = ssl.create_default_context()
        with self._cond:
            self._started = True
            lanes = list(self._lanes.values())
        for lane in lanes:
            self._start_lane(lane)

    def _start_lane(self, lane: _Lane) -> None:
        with self._cond:
            if lane.threads or self._stopping:
                return
            for index in range(self._workers):
                thread = threading.Thread(target=self._run, args=(lane,), daemon=True,
                                          name=f"mpcmix-callbacks-{lane.name or 'default'}-{index}")
                lane.threads.append(thread)
        for thread in lane.threads:
            thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop the workers; callbacks still queued are reported `undelivered`."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            threads = [t for lane in self._lanes.values() for t in lane.threads]
        deadline = time.monotonic() + timeout_s
        for thread in threads:
            if thread.ident is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
        with self._cond:
            leftovers = [d for lane in self._lanes.values() for q in lane.queues.values()
                         for d in q]
            for lane in self._lanes.values():
                lane.queues.clear()
                lane.ready.clear()
                lane.pending = 0
        for delivery in leftovers:
            _report(delivery, "undelivered", {"reason": "server stopped",
                                              "errors": delivery.errors})

    def submit(self, delivery: Delivery) -> bool:
        """Queue a callback; False (and `dropped` reported) when its account's queue is full.
        Never blocks."""
        start_lane = None
        with self._cond:
            lane = self._lanes.get(delivery.account)
            if lane is None:
                lane = self._lanes[delivery.account] = _Lane(delivery.account)
            if self._stopping or lane.pending >= self.max_pending:
                full = True
            else:
                full = False
                lane.pending += 1
                queue = lane.queues.get(delivery.url)
                if queue is None:
                    queue = lane.queues[delivery.url] = deque()
                    heapq.heappush(lane.ready, (time.monotonic(), next(self._counter),
                                                delivery.url))
                queue.append(delivery)
                self._cond.notify_all()
                if self._started and not lane.threads:
                    start_lane = lane
        if start_lane is not None:
            self._start_lane(start_lane)
        if full:
            _report(delivery, "dropped", {"reason": "callback queue full or server stopping"})
            return False
        return True

    def pending(self, account: str | None = None) -> int:
        """Callbacks queued or being sent (of one account, or of all)."""
        with self._cond:
            lanes = self._lanes.values() if account is None else \
                [lane for name, lane in self._lanes.items() if name == account]
            return sum(lane.pending for lane in lanes)

    def wait_idle(self, timeout_s: float, account: str | None = None) -> bool:
        """Wait until nothing is queued or being sent (of one account, or of all)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                lanes = [lane for name, lane in self._lanes.items()
                         if account is None or name == account]
                if not any(lane.pending or lane.busy for lane in lanes):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))

    def _run(self, lane: _Lane) -> None:
        with httpx.Client(
            timeout=self.timeout_s, transport=self._transport, follow_redirects=False,
            verify=self._tls if self._tls is not None else True,
        ) as client:
            while True:
                with self._cond:
                    url = self._next_due(lane)
                    if url is None:
                        return
                    delivery = lane.queues[url][0]
                    lane.busy += 1
                try:
                    ok, detail = self._attempt(client, delivery)
                except BaseException as exc:  # never let one delivery end the worker
                    ok, detail = False, {}
                    delivery.errors.append(f"{type(exc).__name__}: {exc}")
                    log.exception("callback to %r failed unexpectedly", delivery.url)
                finally:
                    with self._cond:
                        lane.busy -= 1
                try:
                    self._finish(lane, url, delivery, ok, detail)
                except Exception:
                    log.exception("callback bookkeeping failed for %r", delivery.url)

    def _next_due(self, lane: _Lane) -> str | None:
        # Called with the condition held; returns the URL whose head is due, or None to stop.
        while True:
            if self._stopping:
                return None
            if lane.ready:
                due, _, url = lane.ready[0]
                wait = due - time.monotonic()
                if wait <= 0:
                    heapq.heappop(lane.ready)
                    return url
                self._cond.wait(wait)
            else:
                self._cond.wait()

    def _attempt(self, client: httpx.Client, delivery: Delivery) -> tuple[bool, dict[str, Any]]:
        delivery.attempts += 1
        try:
            method, url, headers, body = delivery.request()
            response = client.request(method, url, headers=headers, content=body)
        except Exception as exc:  # any failure of one attempt is that attempt's, never fatal
            delivery.errors.append(f"{type(exc).__name__}: {exc}")
            return False, {}
        if 200 <= response.status_code < 300:
            return True, {"status_code": response.status_code}
        delivery.errors.append(f"HTTP {response.status_code}")
        return False, {"status_code": response.status_code}

    def _finish(self, lane: _Lane, url: str, delivery: Delivery, ok: bool,
                detail: dict[str, Any]) -> None:
        report: tuple[str, dict[str, Any]] | None = None
        with self._cond:
            queue = lane.queues.get(url)
            if queue is None:  # stopped meanwhile
                return
            now = time.monotonic()
            if ok or delivery.attempts >= self.attempts:
                queue.popleft()
                lane.pending -= 1
                status = "delivered" if ok else "failed"
                report = (status, {**detail, "attempts": delivery.attempts,
                                   "errors": delivery.errors})
                if queue:
                    heapq.heappush(lane.ready, (now, next(self._counter), url))
                else:
                    del lane.queues[url]
            else:
                delay = self.backoff_s * (2 ** (delivery.attempts - 1))
                heapq.heappush(lane.ready, (now + delay, next(self._counter), url))
                report = ("retrying", {**detail, "attempts": delivery.attempts,
                                       "errors": delivery.errors, "next_attempt_in_s": delay})
            self._cond.notify_all()
        if report is not None:
            _report(delivery, *report)


def _report(delivery: Delivery, status: str, detail: dict[str, Any]) -> None:
    try:
        delivery.on_done(status, detail)
    except Exception:  # a reporting failure must not kill a worker or a request
        log.exception("callback status report failed")
