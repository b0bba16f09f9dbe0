"""User-like traffic through the Service: real authenticated requests on real routes.

Each of a few users (a token from the local issuer) owns an organisation created once at
the start; then an open-loop stream at a fixed rate cycles through what an invoicing user
does: list invoices, list customers, look at a draft, `GET /v1/me`, create a customer,
create a draft invoice. Every request goes to the next ready endpoint (round-robin) and is
recorded with the pod that answered, so the report can show who served what.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from penvoice.dev.issuer import LocalIssuer
from tools.canary_lab.clock import Clock
from tools.canary_lab.pods import Cluster, Pod

# One cycle of user actions; its length (10) is coprime with the 2 and 3 endpoints the
# canary steps produce, so every pod sees the same mix.
CYCLE = (
    "list-invoices",
    "list-customers",
    "get-invoice",
    "me",
    "list-invoices",
    "create-customer",
    "list-customers",
    "create-draft",
    "list-invoices",
    "get-invoice",
)
MAX_IN_FLIGHT = 64
TOKEN_LIFETIME = 4 * 3600


@dataclass
class Record:
    t: float  # cluster time the request was sent
    pod: str
    role: str
    op: str
    status: int | None  # None: no HTTP answer (transport error)
    error: str | None = None


@dataclass
class User:
    subject: str
    token: str
    org_id: str = ""
    customer_ids: list[str] = field(default_factory=list)
    invoice_ids: list[str] = field(default_factory=list)
    finalized_id: str = ""  # an open invoice: it has a PDF

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class SetupError(RuntimeError):
    pass


class UserTraffic:
    def __init__(
        self,
        cluster: Cluster,
        clock: Clock,
        issuer: LocalIssuer,
        rate: float,
        users: int = 3,
        pdf_every: int | None = None,
    ) -> None:
        self.cluster = cluster
        self.pdf_every = pdf_every  # one request in N fetches an invoice's PDF instead
        self.clock = clock
        self.rate = rate  # requests per cluster second
        self.users = [
            User(subject=f"lab-user-{n}", token="")  # tokens minted in setup()
            for n in range(users)
        ]
        self.issuer = issuer
        self.records: list[Record] = []
        self.unrouted = 0  # no ready endpoint at send time
        self.shed = 0  # the client's in-flight limit was reached
        self.http = httpx.AsyncClient(timeout=10.0, limits=httpx.Limits(max_connections=200))
        self._in_flight: set[asyncio.Task[None]] = set()
        self._per_pod: Counter[str] = Counter()
        cluster.in_flight = self.in_flight
        self._semaphore = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def setup(self) -> None:
        """An organisation per user, two customers and a draft each, through the Service."""
        for user in self.users:
            user.token = self.issuer.mint_token(
                user.subject, email=f"{user.subject}@lab.penvoice.test", expires_in=TOKEN_LIFETIME
            )
            org = await self._setup_call(
                "POST", "/v1/orgs", user, {"name": f"Lab org of {user.subject}"}
            )
            user.org_id = org["id"]
            for n in range(2):
                customer = await self._setup_call(
                    "POST",
                    f"/v1/orgs/{user.org_id}/customers",
                    user,
                    {"name": f"Customer {n} of {user.subject}"},
                )
                user.customer_ids.append(customer["id"])
            draft = await self._setup_call(
                "POST", f"/v1/orgs/{user.org_id}/invoices", user, _draft(user.customer_ids[0])
            )
            user.invoice_ids.append(draft["id"])
            if self.pdf_every:
                issued = await self._setup_call(
                    "POST", f"/v1/orgs/{user.org_id}/invoices", user, _draft(user.customer_ids[1])
                )
                await self._setup_call(
                    "POST", f"/v1/orgs/{user.org_id}/invoices/{issued['id']}/finalize", user, {}
                )
                user.finalized_id = issued["id"]

    async def _setup_call(self, method: str, path: str, user: User, body: object) -> Any:
        pod = self.cluster.pick()
        if pod is None:
            raise SetupError("no ready endpoint for the setup requests")
        response = await self.http.request(
            method, pod.base_url + path, json=body, headers=user.headers
        )
        self.records.append(
            Record(self.clock.now(), pod.name, pod.build.role, "setup", response.status_code)
        )
        if response.status_code >= 300:
            raise SetupError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    async def run(self, stop: asyncio.Event) -> None:
        """Open loop: one request every 1/rate cluster seconds until `stop` is set."""
        if self.rate <= 0:
            await stop.wait()
            return
        interval = 1.0 / self.rate
        next_send = self.clock.now()
        ops = itertools.cycle(CYCLE)
        users = itertools.cycle(self.users)
        sent = 0
        while not stop.is_set():
            while next_send <= self.clock.now():
                sent += 1
                op = next(ops)
                if self.pdf_every and sent % self.pdf_every == 0:
                    op = "pdf"  # in place of the cycle's request: the mix is otherwise the same
                self._send(op, next(users))
                next_send += interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.clock.wall(next_send - self.clock.now()))
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    def _send(self, op: str, user: User) -> None:
        if self._semaphore.locked():
            self.shed += 1
            return
        task = asyncio.create_task(self._request(op, user))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    def in_flight(self, pod: Pod) -> int:
        """Requests routed to this pod and not answered yet."""
        return self._per_pod[pod.name]

    async def _request(self, op: str, user: User) -> None:
        async with self._semaphore:
            pod = self.cluster.pick()  # routed when it goes on the wire, as by kube-proxy
            if pod is None:
                self.unrouted += 1
                return
            sent = self.clock.now()
            method, path, body = self._call(op, user)
            self._per_pod[pod.name] += 1
            try:
                response = await self.http.request(
                    method, pod.base_url + path, json=body, headers=user.headers
                )
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:200]
                self.records.append(Record(sent, pod.name, pod.build.role, op, None, error))
                return
            finally:
                self._per_pod[pod.name] -= 1
            self.records.append(Record(sent, pod.name, pod.build.role, op, response.status_code))
            if response.status_code == 201 and op == "create-customer":
                user.customer_ids.append(response.json()["id"])
            elif response.status_code == 201 and op == "create-draft":
                user.invoice_ids.append(response.json()["id"])

    def _call(self, op: str, user: User) -> tuple[str, str, object]:
        org = f"/v1/orgs/{user.org_id}"
        calls: dict[str, tuple[str, str, object]] = {
            "list-invoices": ("GET", f"{org}/invoices", None),
            "list-customers": ("GET", f"{org}/customers", None),
            "get-invoice": ("GET", f"{org}/invoices/{user.invoice_ids[-1]}", None),
            "me": ("GET", "/v1/me", None),
            "pdf": ("GET", f"{org}/invoices/{user.finalized_id}/pdf", None),
        }
        if op == "create-customer":
            return "POST", f"{org}/customers", {"name": f"Walk-in {uuid.uuid4().hex[:8]}"}
        if op == "create-draft":
            return "POST", f"{org}/invoices", _draft(user.customer_ids[-1])
        return calls[op]

    async def storm(self, at: float, duration: float, rate: float, stop: asyncio.Event) -> None:
        """Bad requests from a misbehaving client, from cluster time `at` for `duration`:
        an expired-looking token (401), unknown invoices (404), invalid bodies (422) — to
        a random ready pod each, as kube-proxy picks, so every pod gets the same share."""
        await self.clock.sleep_until(at)
        kinds = itertools.cycle(("bad-token", "unknown-invoice", "invalid-body"))
        users = itertools.cycle(self.users)
        tasks: set[asyncio.Task[None]] = set()
        next_send, end = self.clock.now(), at + duration
        while not stop.is_set() and self.clock.now() < end:
            while next_send <= self.clock.now():
                task = asyncio.create_task(self._bad_request(next(kinds), next(users)))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                next_send += 1.0 / rate
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.clock.wall(next_send - self.clock.now()))
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _bad_request(self, kind: str, user: User) -> None:
        endpoints = self.cluster.endpoints()
        if not endpoints:
            self.unrouted += 1
            return
        pod = random.choice(endpoints)  # noqa: S311 - load spreading, not security
        org = f"/v1/orgs/{user.org_id}"
        headers = user.headers
        if kind == "bad-token":
            method, path, body = "GET", f"{org}/invoices", None
            headers = {"Authorization": "Bearer not.a.token"}
        elif kind == "unknown-invoice":
            method, path, body = "GET", f"{org}/invoices/{uuid.uuid4()}", None
        else:
            method, path, body = "POST", f"{org}/customers", {"name": ""}
        sent = self.clock.now()
        try:
            response = await self.http.request(
                method, pod.base_url + path, json=body, headers=headers
            )
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:200]
            self.records.append(Record(sent, pod.name, pod.build.role, kind, None, error))
            return
        self.records.append(Record(sent, pod.name, pod.build.role, kind, response.status_code))

    async def close(self) -> None:
        await self.http.aclose()


def _draft(customer_id: str) -> dict[str, object]:
    return {
        "customer_id": customer_id,
        "memo": "Canary lab",
        "lines": [
            {"description": "Design work", "quantity": "1.5", "unit_amount": 12000},
            {"description": "Hosting", "quantity": "1", "unit_amount": 2500},
        ],
    }
