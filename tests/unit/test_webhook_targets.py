"""SSRF guard decisions, checked by classification only: no packet leaves this machine."""

from __future__ import annotations

import ipaddress

import pytest

from stagehook.errors import InvalidInput
from stagehook.webhook_targets import (
    TargetGuard,
    TargetRefused,
    VettedUrls,
    check_literal_target,
    classify,
    parse_ip_host,
    validate_webhook_url,
    vet_url_target,
)

SPELLINGS = [
    ("127.0.0.1", "127.0.0.1"),
    ("2130706433", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),
    ("0x7f.0.0.1", "127.0.0.1"),
    ("0X7F.0.0.1", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"),
    ("017700000001", "127.0.0.1"),
    ("127.1", "127.0.0.1"),
    ("127.0.1", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"),
    ("127.0.0.1.", "127.0.0.1"),
    ("0", "0.0.0.0"),
    ("10.1", "10.0.0.1"),
    ("[::1]", "::1"),
    ("::1", "::1"),
    ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
    ("::ffff:7f00:1", "::ffff:7f00:1"),
    ("::127.0.0.1", "::7f00:1"),
    ("[fe80::1%25eth0]", "fe80::1"),
    ("8.8.8.8", "8.8.8.8"),
]


@pytest.mark.parametrize(("host", "expected"), SPELLINGS)
def test_parse_ip_host_recognises_every_spelling(host: str, expected: str) -> None:
    assert parse_ip_host(host) == ipaddress.ip_address(expected)


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "localhost",
        "256.0.0.1",
        "1.2.3.4.5",
        "1.16777216",
        "4294967296",
        "08.0.0.1",
        "0x7g.0.0.1",
        "1..2",
        "",
        "1.2.3.-4",
        "1_0.0.0.1",
        "[not:an:ip]",
        "9" * 50,
    ],
)
def test_parse_ip_host_leaves_names_and_invalid_numbers_alone(host: str) -> None:
    assert parse_ip_host(host) is None


CLASSIFIED = [
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),
    ("100.64.0.1", "cgnat"),
    ("100.127.255.255", "cgnat"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "broadcast"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("192.0.0.8", "reserved"),
    ("192.0.2.10", "documentation"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("192.88.99.1", "reserved"),
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("fe80::1", "link-local"),
    ("fc00::1", "private"),
    ("fd12:3456:789a::1", "private"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation"),
    ("100::1", "reserved"),
    ("2001::1", "reserved"),
    ("2001:2::1", "benchmarking"),
    ("4000::1", "reserved"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "link-local"),
    ("::ffff:100.64.0.1", "cgnat"),
    ("::ffff:0.0.0.0", "unspecified"),
    ("::ffff:0:127.0.0.1", "loopback"),
    ("::127.0.0.1", "loopback"),
    ("::10.0.0.1", "private"),
    ("::8.8.8.8", "reserved"),
    ("64:ff9b::127.0.0.1", "loopback"),
    ("64:ff9b::192.168.0.1", "private"),
    ("64:ff9b:1::1", "private"),
    ("2002:7f00:1::1", "loopback"),
    ("2002:c0a8:101::1", "private"),
]


@pytest.mark.parametrize(("address", "reason"), CLASSIFIED)
def test_classify_refuses_non_public(address: str, reason: str) -> None:
    assert classify(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "100.63.255.255",
        "100.128.0.1",
        "172.32.0.1",
        "2606:4700::1",
        "2001:4860:4860::8888",
        "::ffff:8.8.8.8",
        "64:ff9b::8.8.8.8",
        "2002:808:808::1",
    ],
)
def test_classify_public_is_none(address: str) -> None:
    assert classify(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(("host", "expected"), SPELLINGS[:13])
def test_every_loopback_spelling_is_refused(host: str, expected: str) -> None:
    guard = TargetGuard([])
    with pytest.raises(TargetRefused) as refused:
        vet_url_target(f"http://{host}:8080/hook", guard)
    assert refused.value.address == ipaddress.ip_address(expected)


@pytest.mark.parametrize(("host", "expected"), SPELLINGS[:13])
def test_remembered_vetting_refuses_every_loopback_spelling_every_time(
    host: str, expected: str
) -> None:
    # The sender's per-URL memory of vetting: refusals are never remembered as passes.
    vetted = VettedUrls(TargetGuard([]))
    vetted.check("http://8.8.8.8:8080/hook")  # a pass, remembered
    for _ in range(2):
        with pytest.raises(TargetRefused) as refused:
            vetted.check(f"http://{host}:8080/hook")
        assert refused.value.address == ipaddress.ip_address(expected)


def test_remembered_vetting_follows_the_allow_list_and_stays_bounded() -> None:
    allowed = VettedUrls(TargetGuard(["127.0.0.0/8"]), size=2)
    refused = VettedUrls(TargetGuard([]), size=2)
    for port in range(1, 6):  # more URLs than it remembers: still right for each
        url = f"http://0x7f.1:{port}/hook"
        allowed.check(url)
        allowed.check(url)
        with pytest.raises(TargetRefused):
            refused.check(url)


def test_refusal_message_names_address_reason_and_setting() -> None:
    with pytest.raises(TargetRefused) as refused:
        TargetGuard([]).check(ipaddress.ip_address("127.0.0.1"))
    assert refused.value.reason == "loopback"
    assert str(refused.value) == (
        "refused target 127.0.0.1: loopback address "
        "(add it to STAGEHOOK_ALLOWED_TARGET_NETWORKS to allow)"
    )


def test_refusal_message_shows_hostname_and_embedded_ipv4() -> None:
    with pytest.raises(TargetRefused) as refused:
        TargetGuard([]).check("::ffff:10.0.0.5", target="internal.example")
    message = str(refused.value)
    assert "internal.example (::ffff:a00:5)" in message
    assert "private address" in message
    assert "IPv4 10.0.0.5 embedded" in message


@pytest.mark.parametrize(
    ("allowed", "address"),
    [
        (["127.0.0.0/8"], "127.0.0.1"),
        (["127.0.0.0/8"], "127.3.2.1"),
        (["127.0.0.0/8"], "::ffff:127.0.0.1"),
        (["127.0.0.0/8"], "64:ff9b::127.0.0.1"),
        (["10.0.0.0/8", "192.168.0.0/16"], "192.168.4.4"),
        (["100.64.0.0/10"], "100.64.3.3"),
        (["::1/128"], "::1"),
        (["fd00::/8"], "fd00::42"),
        (["10.1.2.3"], "10.1.2.3"),
    ],
)
def test_allowed_networks_exempt_addresses(allowed: list[str], address: str) -> None:
    TargetGuard(allowed).check(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("allowed", "address"),
    [
        (["127.0.0.0/8"], "10.0.0.1"),
        (["127.0.0.0/8"], "::1"),
        (["10.1.0.0/16"], "10.2.0.1"),
        (["::1/128"], "127.0.0.1"),
        (["192.168.0.0/16"], "::ffff:10.0.0.1"),
    ],
)
def test_allowed_networks_exempt_nothing_else(allowed: list[str], address: str) -> None:
    with pytest.raises(TargetRefused):
        TargetGuard(allowed).check(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700::1", "::ffff:1.1.1.1"])
def test_public_addresses_pass_without_any_allow_list(address: str) -> None:
    TargetGuard([]).check(address)


def test_vet_url_target_ignores_hostnames() -> None:
    # Names are vetted after resolution by GuardedResolver, not here.
    vet_url_target("http://localhost:1/", TargetGuard([]))


VALID_URLS = [
    ("https://example.com/hook", "https://example.com/hook"),
    ("HTTPS://Example.COM/Hook", "https://example.com/Hook"),
    ("http://example.com:80/x", "http://example.com/x"),
    ("https://example.com:8443/x?a=1&b=2", "https://example.com:8443/x?a=1&b=2"),
    ("http://127.0.0.1:9000/", "http://127.0.0.1:9000/"),
    ("http://[2606:4700::1]/", "http://[2606:4700::1]/"),
    ("https://bücher.example/x", "https://xn--bcher-kva.example/x"),
    ("http://localhost:8000/hook", "http://localhost:8000/hook"),
]


@pytest.mark.parametrize(("url", "normalized"), VALID_URLS)
def test_validate_webhook_url_accepts_and_normalizes(url: str, normalized: str) -> None:
    assert validate_webhook_url(url) == normalized


INVALID_URLS = [
    ("ftp://example.com/", "scheme must be http or https"),
    ("file:///etc/passwd", "scheme must be http or https"),
    ("gopher://example.com/", "scheme must be http or https"),
    ("example.com/hook", "scheme must be http or https, got none"),
    ("http:///hook", "has no host"),
    ("http://user:pass@example.com/", "credentials"),
    ("http://user@example.com/", "credentials"),
    ("http://:@example.com/", "credentials"),
    ("http://example.com:0/", "port must be between 1 and 65535"),
    ("http://example.com:99999/", "Port out of range"),
    ("http://example.com/" + "a" * 2048, "longer than 2048 characters"),
    ("http://example.com/a b", "whitespace or control characters"),
    ("http://example.com/\x00", "whitespace or control characters"),
    ("http://example.com/\t", "whitespace or control characters"),
    (" http://example.com/", "whitespace or control characters"),
    ("http://example.com/\r\nX-Injected: 1", "whitespace or control characters"),
    ("http://example.com/#frag", "fragment"),
    ("http://%31%32%37.0.0.1/", "must not contain '%'"),
    ("http://[fe80::1%25eth0]/", "must not contain '%'"),
    ("http://1.2.3.999/", "looks like an IP address but is not a valid one"),
    ("http://example.com\\@evil.com/", "backslash"),
]


@pytest.mark.parametrize(("url", "reason"), INVALID_URLS)
def test_validate_webhook_url_refuses_with_reason(url: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as invalid:
        validate_webhook_url(url)
    assert reason in invalid.value.message
    assert invalid.value.message.startswith("invalid webhook URL: ")


def test_validation_does_not_refuse_private_targets() -> None:
    # The allow-list is a send-time setting; saving must not depend on it.
    for url in ("http://10.0.0.1/", "http://localhost/", "http://[::1]:8080/"):
        assert validate_webhook_url(url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/", "http://2130706433/", "http://[::ffff:10.0.0.1]/"]
)
def test_check_literal_target_refuses_literal_ips_at_save_time(url: str) -> None:
    with pytest.raises(InvalidInput) as invalid:
        check_literal_target(url, TargetGuard([]))
    assert "STAGEHOOK_ALLOWED_TARGET_NETWORKS" in invalid.value.message


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:8000/", ["127.0.0.0/8"]),
        ("http://8.8.8.8/", []),
        ("http://internal.example/", []),
        ("http://localhost/", []),
    ],
)
def test_check_literal_target_accepts_allowed_and_names(url: str, allowed: list[str]) -> None:
    check_literal_target(url, TargetGuard(allowed))
