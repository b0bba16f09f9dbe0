"""Server-side request forgery: endpoints may not point at loopback, link-local or private
addresses, or names resolving to them, unless the operator allows it; a delivery re-checks
the address it connects to. (Names used here resolve from /etc/hosts: no DNS is asked.)"""

from __future__ import annotations

import ipaddress

import pytest

from penvoice.webhooks import targets
from tests.conftest import Api
from tests.webhooks.conftest import delivering, eventually, new_org
from tests.webhooks.receiver import receiver

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/hook", "127.0.0.1, a loopback address"),
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::1]/hook", "::1, a loopback address"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("http://10.1.2.3/hook", "private"),
        ("http://192.168.0.10/hook", "private"),
        ("http://100.64.0.1/hook", "private"),  # shared (carrier-grade NAT)
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://localhost:9999/hook", "localhost resolves to"),
        ("http://user:pass@93.184.216.34/hook", "credentials"),
        ("ftp://93.184.216.34/hook", "http or https"),
        ("https:///hook", "host"),
    ],
)
async def test_registering_a_forbidden_target_is_refused(api: Api, url: str, reason: str) -> None:
    org = await new_org(api)
    response = await api.client.post(
        f"{org.base}/webhook-endpoints", json={"url": url}, headers=org.headers()
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["field"] == "body.url"
    assert reason in error["message"], error
    listed = await org.call("GET", "/webhook-endpoints")
    assert listed["items"] == []


async def test_a_public_address_is_accepted_and_an_update_is_checked_too(api: Api) -> None:
    org = await new_org(api)
    endpoint = await org.endpoint("https://93.184.216.34/hook")  # never contacted here
    response = await api.client.patch(
        f"{org.base}/webhook-endpoints/{endpoint['id']}",
        json={"url": "http://169.254.169.254/"},
        headers=org.headers(),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.url"


async def test_with_the_operator_setting_loopback_is_allowed(hook_api: Api) -> None:
    org = await new_org(hook_api)
    endpoint = await org.endpoint("http://127.0.0.1:9/hook")
    assert endpoint["url"] == "http://127.0.0.1:9/hook"


async def test_a_delivery_re_checks_the_target_and_sends_nothing(
    hook_api: Api, database_url: str
) -> None:
    """Registered while allowed, delivered by a worker that does not allow it (or a name
    that resolves differently now): refused at delivery, nothing reaches the address."""
    org = await new_org(hook_api)
    with receiver() as (state, url):
        endpoint = await org.endpoint(url, event_types=["customer.created"])
        state.secrets = [endpoint["secret"]]
        await org.call("POST", "/customers", {"name": "One"})
        async with delivering(database_url, WEBHOOK_ALLOW_PRIVATE_TARGETS="false"):

            async def tried() -> bool:
                (message,) = await org.messages(endpoint["id"])
                return bool(message["log"])

            await eventually(tried)
        (message,) = await org.messages(endpoint["id"])
        assert message["status"] == "pending"
        attempt = message["log"][0]
        assert attempt["response_status"] is None
        assert "refused target" in attempt["error"]
        assert "loopback" in attempt["error"]
        assert state.received == []


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("::ffff:10.0.0.1", "private"),
    ],
)
def test_address_classes(address: str, reason: str | None) -> None:
    assert targets.refusal(ipaddress.ip_address(address)) == reason


def test_the_delivery_url_pins_the_checked_address() -> None:
    target = targets.parse("https://hooks.example.com:8443/in?x=1")
    assert target.url_for("93.184.216.34") == "https://93.184.216.34:8443/in?x=1"
    assert target.host_header == "hooks.example.com:8443"
    assert targets.parse("https://[2606:4700::1]/").url_for("2606:4700::1") == (
        "https://[2606:4700::1]:443/"
    )
