import pytest

from newsletter.network import is_public

# IPv6 addresses that carry an IPv4 address the packets end up at.
EMBEDDING_A_PRIVATE_IPV4 = [
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254 (cloud metadata)
    "2002:0a00:0001::1",  # 6to4 of 10.0.0.1
    "2002:7f00:0001:1234::5",  # 6to4 of 127.0.0.1, any subnet and host
    "2002:c0a8:0101::",  # 6to4 of 192.168.1.1
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1 (obfuscated)
    "2001:0:a00:1:8000:63bf:3fff:fdd2",  # Teredo, server 10.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b:1::a00:1",  # local-use NAT64
    "::ffff:10.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "::10.0.0.1",  # IPv4-compatible
    "::127.0.0.1",
]


@pytest.mark.parametrize("address", EMBEDDING_A_PRIVATE_IPV4)
def test_an_ipv6_address_embedding_a_private_ipv4_is_not_public(address):
    assert not is_public(address)


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
     "0.0.0.0", "224.0.0.1", "240.0.0.1", "::1", "::", "fe80::1", "fc00::1", "ff02::1"],  # noqa: S104
)  # fmt: skip
def test_private_and_special_addresses_are_not_public(address):
    assert not is_public(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::1111", "::ffff:93.184.215.14"])
def test_public_addresses_are_public(address):
    assert is_public(address)
