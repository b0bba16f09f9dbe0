"""The scenarios the lab runs; `tests/canary/` asserts their outcomes.

Rates are in requests per cluster second (the clock multiplies them). The user rate is a
free choice of the lab (the manifests do not fix it): 2 req/s is a small but steady API, so
a 1-minute window holds ~120 user requests next to the ~22 probe and scrape requests each
pod answers in that minute.
"""

from __future__ import annotations

from dataclasses import dataclass

SEED = "seed"  # analysistemplate.yaml: namespace-wide, what the Rollout uses
SCOPED = "scoped"  # analysistemplate-canary.yaml: the canary-scoped variant shipped beside it
SCOPED_RATE = "seed+hash"  # what-if: the seed's query with only the hash filter added

USER_RATE = 2.0


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    question: str
    canary: str  # "good" | "faulty" | "repoint-db"
    user_rate: float = USER_RATE
    fault_every: int | None = None  # faulty canary: every Nth /v1 request answers 500
    driving: str = SEED
    side_by_side: tuple[str, ...] = (SCOPED, SCOPED_RATE)
    stall_after_pauses: float | None = None  # repoint: how long a step may wait, in pauses


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            name="good-release",
            title="A good release",
            question="Does a healthy canary promote through every step with no failed read?",
            canary="good",
        ),
        Scenario(
            name="bad-release",
            title="A release that fails one request in three",
            question="Does the committed gate abort a canary answering 500 to a third of the "
            "user requests before it reaches 100 %, on the read that exceeds failureLimit?",
            canary="faulty",
            fault_every=3,
        ),
        Scenario(
            name="no-user-traffic",
            title="No user traffic at all",
            question="With only kubelet probes and Prometheus scrapes, is the gate a number "
            "(not NaN, not empty) and does a good release still promote?",
            canary="good",
            user_rate=0.0,
        ),
        Scenario(
            name="bad-config-repoint",
            title="A bad configuration repoint (DB_URL to an unmigrated database)",
            question="Does a canary that can never be ready stay out of the Service, receive "
            "no traffic, and leave the stable pods serving without a single error?",
            canary="repoint-db",
            stall_after_pauses=2.0,
        ),
        Scenario(
            name="scoped-vs-namespace",
            title="A partially bad canary (one request in twelve fails): scoped vs namespace-wide",
            question="Does the canary-scoped gate abort at 25 % a canary the namespace-wide "
            "gate lets through to 100 %?",
            canary="faulty",
            fault_every=12,
        ),
    )
}
