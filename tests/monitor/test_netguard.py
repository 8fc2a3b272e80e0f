"""The network guard's policy: global addresses, the allow-list, private networks, and
the cloud metadata addresses that only an explicit entry opens (scenarios 1, 2, 6, 8, 45).
Names resolve through a fake resolver; nothing here connects anywhere."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from scrapy.utils.test import get_crawler

from crawler.middlewares import NetworkGuardMiddleware
from crawler.settings import scrapy_settings
from crawler.spiders.sources import SourceSpider
from monitor.config import CrawlSettings, Settings
from monitor.errors import NetworkGuardError
from monitor.netguard import METADATA_NETWORKS, NetworkPolicy, parse_network

GUARDED = NetworkPolicy()
PRIVATE = NetworkPolicy(allow_private_networks=True)


def _listing(*ranges: str, private: bool = False) -> NetworkPolicy:
    return NetworkPolicy.from_settings(allow_private_networks=private, allowed_networks=ranges)


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """A fake resolver: host name -> its addresses."""
    records: dict[str, list[str]] = {}

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in records:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port or 0)) for a in records[host]]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return records


@pytest.mark.parametrize("network", METADATA_NETWORKS, ids=str)
def test_every_metadata_address_is_refused_when_private_networks_are_allowed(network):
    assert not PRIVATE.address_allowed(network.network_address)


@pytest.mark.parametrize(
    "address", ["::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "::169.254.169.254"]
)
def test_a_metadata_address_wrapped_in_ipv6_is_refused_too(address):
    assert not PRIVATE.address_allowed(address)


def test_private_networks_allowed_still_allow_loopback_and_lan():
    assert all(PRIVATE.address_allowed(a) for a in ("127.0.0.1", "10.0.0.5", "::1", "fd12::1"))


def test_a_metadata_address_listed_by_itself_is_allowed():
    assert _listing("169.254.169.254").address_allowed("169.254.169.254")
    assert _listing("fd00:ec2::254/128", private=True).address_allowed("fd00:ec2::254")


@pytest.mark.parametrize("wide", ["169.254.0.0/16", "0.0.0.0/0"])
def test_a_range_around_a_metadata_address_does_not_allow_it(wide):
    policy = _listing(wide, private=True)

    assert policy.address_allowed("169.254.1.1")
    assert not policy.address_allowed("169.254.169.254")


def test_allowed_networks_allow_only_their_ranges():
    policy = _listing("10.20.0.0/16", "fd12::/16")

    assert policy.address_allowed("10.20.255.1")
    assert policy.address_allowed("fd12::7")
    assert not policy.address_allowed("10.21.0.1")
    assert not policy.address_allowed("fd13::7")
    assert not policy.address_allowed("127.0.0.1")


def test_global_addresses_stay_allowed_beside_an_allow_list():
    assert _listing("10.20.0.0/16").address_allowed("93.184.215.14")


@pytest.mark.parametrize("address", ["::7f00:1", "64:ff9b::7f00:1", "64:ff9b::a00:5"])
def test_ipv6_forms_carrying_a_private_ipv4_address_are_refused(address):
    assert not GUARDED.address_allowed(address)


def test_an_azure_host_endpoint_is_refused_though_its_address_is_public():
    assert not GUARDED.address_allowed("168.63.129.16")


def test_a_refused_literal_names_the_settings_that_would_allow_it():
    with pytest.raises(NetworkGuardError) as caught:
        GUARDED.check_url("http://10.1.2.3/feed")

    assert str(caught.value) == (
        "refused URL 'http://10.1.2.3/feed': 10.1.2.3 is a private, loopback or reserved "
        "address (add its range to crawl.allowed_networks, or set "
        "crawl.allow_private_networks = true, to allow it)"
    )


def test_a_host_resolving_to_metadata_is_refused_under_private_networks(dns):
    """Scenario 2 with scenario 45: the name passes at save, its address at connect not."""
    dns["metadata.rasid-test.invalid"] = ["169.254.169.254"]

    with pytest.raises(NetworkGuardError) as caught:
        PRIVATE.resolve("metadata.rasid-test.invalid", 80)

    assert str(caught.value) == (
        "refused host 'metadata.rasid-test.invalid': it resolves to 169.254.169.254, a cloud "
        "metadata address (list 169.254.169.254 itself in crawl.allowed_networks to allow it)"
    )


def test_a_host_with_one_address_outside_the_allow_list_is_refused(dns):
    dns["mixed.rasid-test.invalid"] = ["10.20.0.9", "10.30.0.9"]
    policy = _listing("10.20.0.0/16")

    with pytest.raises(NetworkGuardError, match=r"resolves to 10\.30\.0\.9, a private"):
        policy.resolve("mixed.rasid-test.invalid", 80)


def test_a_host_inside_the_allow_list_resolves(dns):
    dns["lan.rasid-test.invalid"] = ["10.20.0.9"]

    assert _listing("10.20.0.0/16").resolve("lan.rasid-test.invalid", 80) == ["10.20.0.9"]


def test_an_invalid_range_is_refused_with_what_was_expected():
    with pytest.raises(ValueError) as caught:
        parse_network("10.20.0.0/33")

    assert str(caught.value) == (
        'expected an address range such as "10.20.0.0/16" or "fd12::/16", got "10.20.0.0/33"'
    )


def test_the_scrapy_guard_gets_the_same_policy_as_the_rest_of_rasid():
    crawl = CrawlSettings(allow_private_networks=True, allowed_networks=["169.254.169.254"])
    settings = Settings(crawl=crawl)
    crawler = get_crawler(SourceSpider, settings_dict=scrapy_settings(settings))

    middleware = NetworkGuardMiddleware.from_crawler(crawler)

    assert middleware.policy == settings.crawl.network_policy
    assert middleware.policy.address_allowed("169.254.169.254")
