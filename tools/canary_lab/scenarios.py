"""The scenarios the lab runs; `tests/canary/` asserts their outcomes.

Rates are in requests per cluster second (the clock multiplies them). The user rate is a
free choice of the lab (the manifests do not fix it): 2 req/s is a small but steady API, so
a 1-minute window holds ~120 user requests next to the ~22 probe and scrape requests each
pod answers in that minute.
"""

from __future__ import annotations

from dataclasses import dataclass

SEED = "seed"  # analysistemplate.yaml: namespace-wide, the Rollout's gate until issue 15
COMPARE = "compare"  # analysistemplate-compare.yaml: canary vs stable, what the Rollout runs
SCOPED = "scoped"  # analysistemplate-canary.yaml: the canary-scoped variant shipped beside it
SCOPED_RATE = "seed+hash"  # what-if: the seed's query with only the hash filter added
ROLLOUT = "rollout"  # every template the Rollout lists, in one AnalysisRun, as Argo runs them

USER_RATE = 2.0


@dataclass(frozen=True)
class Outage:
    """Something both stable and canary depend on, down for a while during the update."""

    what: str  # "database" | "prometheus"
    at: float  # cluster seconds after the update started
    duration: float  # cluster seconds


@dataclass(frozen=True)
class Storm:
    """Clients sending bad requests (401, 404, 422) at `rate` req/s to every pod alike."""

    rate: float
    at: float
    duration: float


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    question: str
    canary: str  # "good" | "faulty" | "repoint-db"
    user_rate: float = USER_RATE
    fault: str | None = None  # faulty canary: CANARY_LAB_FAULT (tools/canary_lab/fault.py)
    driving: str = SEED
    side_by_side: tuple[str, ...] = (COMPARE, SCOPED, SCOPED_RATE)
    stall_after_pauses: float | None = None  # repoint: how long a step may wait, in pauses
    outage: Outage | None = None
    storm: Storm | None = None
    pdf_every: int | None = None  # one user request in N is an invoice PDF
    right_answer: str = ""  # what a release engineer wants: "promote" | "abort" | "stall"


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            name="good-release",
            title="A good release",
            question="Does a healthy canary promote through every step with no failed read?",
            canary="good",
            right_answer="promote",
        ),
        Scenario(
            name="bad-release",
            title="A release that fails one request in three",
            question="Does the committed gate abort a canary answering 500 to a third of the "
            "user requests before it reaches 100 %, on the read that exceeds failureLimit?",
            canary="faulty",
            fault="every=3",
            right_answer="abort",
        ),
        Scenario(
            name="no-user-traffic",
            title="No user traffic at all",
            question="With only kubelet probes and Prometheus scrapes, is the gate a number "
            "(not NaN, not empty) and does a good release still promote?",
            canary="good",
            user_rate=0.0,
            right_answer="promote",
        ),
        Scenario(
            name="bad-config-repoint",
            title="A bad configuration repoint (DB_URL to an unmigrated database)",
            question="Does a canary that can never be ready stay out of the Service, receive "
            "no traffic, and leave the stable pods serving without a single error?",
            canary="repoint-db",
            stall_after_pauses=2.0,
            right_answer="stall",
        ),
        Scenario(
            name="scoped-vs-namespace",
            title="A partially bad canary (one request in twelve fails): scoped vs namespace-wide",
            question="Does the canary-scoped gate abort at 25 % a canary the namespace-wide "
            "gate lets through to 100 %?",
            canary="faulty",
            fault="every=12",
            right_answer="abort",
        ),
        # Issue 15: the cases a namespace-wide threshold gets wrong. The driving gate is the
        # one expected to decide later, so that both verdicts are seen in full.
        Scenario(
            name="shared-db-outage",
            title="A database switchover (30 s) during a good canary",
            question="Does a good release survive an outage that fails stable and canary alike?",
            canary="good",
            driving=COMPARE,
            side_by_side=(SEED, SCOPED),
            outage=Outage("database", at=75.0, duration=30.0),
            right_answer="promote",
        ),
        Scenario(
            name="prometheus-down",
            title="Prometheus unreachable for 60 s during a good canary",
            question="Does a monitoring outage abort a good release?",
            canary="good",
            driving=COMPARE,
            side_by_side=(SEED, SCOPED),
            outage=Outage("prometheus", at=70.0, duration=60.0),
            right_answer="promote",
        ),
        Scenario(
            name="latency-regression",
            title="+200 ms on one route (the invoice list, 3 user requests in 10)",
            question="Is a release that only got slower stopped?",
            canary="faulty",
            fault="latency=0.2;path=/invoices$",
            side_by_side=(COMPARE, SCOPED),
            right_answer="abort",
        ),
        Scenario(
            name="warmup-errors",
            title="Each canary pod fails its first 10 s of requests, then is fine",
            question="Is a release that is fine once warm aborted for its warm-up?",
            canary="faulty",
            fault="warmup=10",
            driving=COMPARE,
            side_by_side=(SEED, SCOPED),
            right_answer="promote",
        ),
        Scenario(
            name="client-4xx-storm",
            title="A client's storm of bad requests (401/404/422, 4 req/s for 60 s)",
            question="Does a storm of client errors, the same on every pod, leave a good "
            "release alone?",
            canary="good",
            driving=COMPARE,
            side_by_side=(SEED, SCOPED),
            storm=Storm(rate=4.0, at=40.0, duration=60.0),
            right_answer="promote",
        ),
        Scenario(
            name="wrong-4xx",
            title="The canary answers 404 to one valid request in four",
            question="Is a release that wrongly refuses valid requests stopped?",
            canary="faulty",
            fault="every=4;status=404",
            side_by_side=(COMPARE, SCOPED),
            right_answer="abort",
        ),
        Scenario(
            name="pdf-route-bug",
            title="The invoice PDF (2 % of user requests) always fails on the canary",
            question="Is a bug on a low-traffic route stopped?",
            canary="faulty",
            fault="every=1;path=/pdf$",
            side_by_side=(COMPARE, SCOPED),
            pdf_every=50,
            right_answer="abort",
        ),
        Scenario(
            name="crash-loop",
            title="The canary crashes after 15 user requests, every time it starts",
            question="Is a canary that crashes after becoming ready stopped?",
            canary="faulty",
            fault="crash_after=15",
            side_by_side=(COMPARE, SCOPED),
            stall_after_pauses=2.0,  # the seed never aborts: the Rollout waits at 75 %
            right_answer="abort",
        ),
    )
}

ISSUE_15 = [
    "shared-db-outage",
    "prometheus-down",
    "latency-regression",
    "warmup-errors",
    "client-4xx-storm",
    "wrong-4xx",
    "pdf-route-bug",
    "crash-loop",
]
