"""The SSRF guard and egress settings, end to end through the dispatcher."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stagehook.config import Settings
from tests.support.api import Api
from tests.support.deliveries import project_with_hook, submit, wait_status
from tests.support.proxy import ForwardProxy
from tests.support.receiver import Receiver
from tests.support.workflows import ANNOTATE, basic_workflow


@pytest.mark.settings(allowed_target_networks=[])
def test_loopback_target_is_refused_and_nothing_arrives(api: Api) -> None:
    with Receiver() as receiver:
        # a name, so the URL is accepted when saved and vetted when resolved at send time
        url = f"http://localhost:{receiver.port}/h"
        project_hash, tasks, _ = project_with_hook(api, url)
        submit(api, project_hash, tasks)
        failed = wait_status(api, project_hash, "failed")
        attempt = failed["attempts_log"][0]
        assert attempt["error_class"] == "ssrf_refused"
        assert "loopback" in attempt["error"]
        assert attempt["status_code"] is None
        assert receiver.requests() == []


@pytest.mark.settings(egress_source_address="127.0.0.2")
def test_deliveries_leave_from_the_egress_source_address(api: Api) -> None:
    with Receiver() as receiver:
        project_hash, tasks, _ = project_with_hook(api, receiver.url("/h"))
        submit(api, project_hash, tasks)
        got = receiver.wait_for(1, "/h")[0]
        assert got.peer == "127.0.0.2"
        wait_status(api, project_hash, "delivered")


@pytest.mark.settings(deployment="emea", egress_cidrs=["127.0.0.2/32", "2001:db8::/64"])
def test_meta_publishes_the_egress_addresses(api: Api) -> None:
    meta = api.raw("GET", "/meta", headers={"authorization": ""}).json()
    assert meta["deployment"] == "emea"
    assert meta["egress_cidrs"] == ["127.0.0.2/32", "2001:db8::/64"]


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    with ForwardProxy() as running:
        yield running


@pytest.fixture
def settings_with_proxy(settings: Settings, proxy: ForwardProxy) -> Settings:
    settings.egress_proxy = proxy.url
    return settings


@pytest.mark.usefixtures("settings_with_proxy")
def test_deliveries_go_through_the_egress_proxy(api: Api, proxy: ForwardProxy) -> None:
    with Receiver() as receiver:
        project_hash, tasks, _ = project_with_hook(api, receiver.url("/h"))
        submit(api, project_hash, tasks)
        wait_status(api, project_hash, "delivered")
        assert proxy.relayed == [receiver.url("/h")]
        assert len(receiver.requests("/h")) == 1


@pytest.mark.usefixtures("settings_with_proxy")
def test_through_the_proxy_the_vetted_address_is_named_not_the_host(
    api: Api, proxy: ForwardProxy
) -> None:
    """The proxy gets the address stagehook vetted, so it cannot resolve the name anew."""
    with Receiver() as receiver:
        url = f"http://localhost:{receiver.port}/h"
        project_hash, tasks, _ = project_with_hook(api, url)
        submit(api, project_hash, tasks)
        wait_status(api, project_hash, "delivered")
        assert proxy.relayed == [f"http://127.0.0.1:{receiver.port}/h"]
        assert receiver.requests("/h")[0].headers["host"] == f"localhost:{receiver.port}"


@pytest.mark.usefixtures("settings_with_proxy")
@pytest.mark.settings(allowed_target_networks=[])
def test_the_guard_still_vets_targets_behind_the_proxy(api: Api, proxy: ForwardProxy) -> None:
    with Receiver() as receiver:
        url = f"http://localhost:{receiver.port}/h"
        project_hash, tasks, _ = project_with_hook(api, url)
        submit(api, project_hash, tasks)
        failed = wait_status(api, project_hash, "failed")
        assert failed["attempts_log"][0]["error_class"] == "ssrf_refused"
        assert proxy.relayed == []
        assert receiver.requests() == []


@pytest.mark.settings(allowed_target_networks=[])
def test_a_literal_private_address_is_refused_when_saved(api: Api) -> None:
    dataset_hash, _ = api.dataset_with_units(1)
    project_hash = api.create_project("p", [dataset_hash], workflow=basic_workflow())[
        "project_hash"
    ]
    for url, reason in (
        ("http://127.0.0.1:8080/h", "loopback"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://10.1.2.3/h", "private"),
        ("http://0x7f.1/h", "loopback"),
        ("http://[::ffff:192.168.0.1]/h", "private"),
    ):
        response = api.raw(
            "PUT",
            f"/projects/{project_hash}/workflow/stages/{ANNOTATE}/webhook",
            json={"url": url},
        )
        assert response.status_code == 422, url
        assert reason in response.json()["error"]["message"], (url, response.json())
