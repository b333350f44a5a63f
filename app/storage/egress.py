"""Where the server may connect when it reaches storage (CONTRACT.md D37).

API callers choose a connection's ``endpoint_url``, so without a policy any key holder could
make the server connect to any address it can reach: an internal admin port, a cloud metadata
service, the database next door. ``MIXPEEK_MOCK_STORAGE_ENDPOINTS`` says where it may go:

- ``loopback``: this machine only (127.0.0.0/8, ::1, ``localhost``);
- ``private`` (the default): loopback plus RFC 1918 and unique-local addresses, so compose
  service names such as ``minio`` work, but nothing on the public internet;
- ``any``: also public hosts, such as AWS's own endpoints (which a connection without
  ``endpoint_url`` means);
- or a comma-separated list of host names (``minio``, ``*.example.com``), addresses and CIDR
  ranges, which may also name the three keywords above (``loopback,minio``).

Link-local addresses (169.254.0.0/16, fe80::/10: the cloud metadata services) are outside
every keyword, ``any`` included; only a list that names them allows them.

Every connection a storage client opens goes through ``EgressPolicy.pin``: the host is
resolved once, every address it resolves to must be allowed, and the socket is opened to the
address that was checked, so a second lookup (DNS rebinding) cannot send it elsewhere. A refusal
is decided before any packet reaches the endpoint.
"""

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

SETTING = "MIXPEEK_MOCK_STORAGE_ENDPOINTS"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
_PRIVATE = (
    *_LOOPBACK,
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("172.16.0.0/12"),
    ipaddress.ip_network("192.168.0.0/16"),
    ipaddress.ip_network("fc00::/7"),
)
# What no keyword allows: the metadata services live here (169.254.169.254, fd00:ec2::254 is
# unique-local, but AWS also answers on fe80::a9fe:a9fe), and these cannot be connected to.
_NEVER_BY_KEYWORD = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
    ipaddress.ip_network("0.0.0.0/8"),
    ipaddress.ip_network("::/128"),
    ipaddress.ip_network("224.0.0.0/4"),
    ipaddress.ip_network("ff00::/8"),
    ipaddress.ip_network("255.255.255.255/32"),
)
KEYWORDS = ("loopback", "private", "any")

# How a name becomes addresses; tests may give their own.
Resolver = Callable[[str, int], Sequence[IPAddress]]


class EgressPolicyError(ValueError):
    """The setting itself is malformed (reported at startup)."""


class EgressRefusedError(Exception):
    """A storage endpoint outside the policy. The message names the setting and the host."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{SETTING} does not allow connecting to {host!r}: {reason}.")
        self.host = host


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, in the resolver's order, without duplicates."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canonical, sockaddr in infos:
        address = _plain(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]))
        if address not in addresses:
            addresses.append(address)
    return addresses


def _plain(address: IPAddress) -> IPAddress:
    """IPv4-mapped IPv6 (``::ffff:127.0.0.1``) checked as the IPv4 address it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _literal(host: str) -> IPAddress | None:
    try:
        return _plain(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


@dataclass(frozen=True)
class Destination:
    """Where to open a socket for a host: the checked address, and the name it stands for."""

    host: str
    address: IPAddress


class EgressPolicy:
    """A parsed ``MIXPEEK_MOCK_STORAGE_ENDPOINTS``: ask it before connecting anywhere."""

    def __init__(self, setting: str, *, resolver: Resolver = resolve) -> None:
        self.setting = setting
        self.resolver = resolver
        self.allow_public = False
        self.networks: list[IPNetwork] = []
        # Networks that a keyword allowed: the never-by-keyword ranges stay out of those.
        self.keyword_networks: list[IPNetwork] = []
        self.names: set[str] = set()
        self.name_suffixes: list[str] = []
        self._parse(setting)

    def _parse(self, setting: str) -> None:
        entries = [entry.strip() for entry in setting.split(",")]
        if not setting.strip() or any(not entry for entry in entries):
            raise EgressPolicyError(
                f"{SETTING} must be loopback, private, any, or a comma-separated list of host"
                f" names, addresses and CIDR ranges; got {setting!r}."
            )
        for entry in entries:
            lowered = entry.lower()
            # Keywords allow addresses, not names: ``localhost`` passes because it resolves
            # to a loopback address, like any other name that does.
            if lowered == "loopback":
                self.keyword_networks.extend(_LOOPBACK)
            elif lowered == "private":
                self.keyword_networks.extend(_PRIVATE)
            elif lowered == "any":
                self.allow_public = True
            elif "/" in entry or _literal(entry) is not None:
                try:
                    self.networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                except ValueError:
                    raise EgressPolicyError(
                        f"{SETTING}: {entry!r} is neither an address nor a CIDR range."
                    ) from None
            elif lowered.startswith("*.") and _is_host_name(lowered[2:]):
                self.name_suffixes.append(lowered[1:])  # ".example.com"
            elif _is_host_name(lowered):
                self.names.add(lowered.rstrip("."))
            else:
                raise EgressPolicyError(f"{SETTING}: {entry!r} is not a host name.")

    def allows_address(self, address: IPAddress) -> bool:
        address = _plain(address)
        if any(address in network for network in self.networks):
            return True
        if any(address in network for network in _NEVER_BY_KEYWORD):
            return False
        if self.allow_public:
            return True
        return any(address in network for network in self.keyword_networks)

    def _lists_name(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        return name in self.names or any(name.endswith(suffix) for suffix in self.name_suffixes)

    def check_public_name(self, host: str) -> None:
        """Refuse, without a lookup, a host known to be on the public internet (AWS's own
        endpoints, which a connection without ``endpoint_url`` means) unless the policy allows
        public hosts or names it."""
        if not (self.allow_public or self._lists_name(host)):
            raise EgressRefusedError(host, "it is a public endpoint")

    def pin(self, host: str, port: int) -> Destination:
        """The address to connect to for ``host``, checked; ``EgressRefusedError`` otherwise.

        A literal address is checked as it is. A name is resolved once; a name the policy lists
        is trusted whatever it resolves to, any other is allowed only when every address it
        resolves to is (so a name with one public address among private ones is refused).
        """
        literal = _literal(host)
        if literal is not None:
            if not self.allows_address(literal):
                raise EgressRefusedError(host, f"{literal} is outside the allowed addresses")
            return Destination(host, literal)
        if not _is_host_name(host.lower()):
            raise EgressRefusedError(host, "it is not a valid host name")
        try:
            addresses = list(self.resolver(host, port))
        except (OSError, UnicodeError):
            raise EgressRefusedError(host, "the name does not resolve") from None
        if not addresses:
            raise EgressRefusedError(host, "the name does not resolve")
        if not self._lists_name(host):
            refused = [address for address in addresses if not self.allows_address(address)]
            if refused:
                raise EgressRefusedError(
                    host, f"it resolves to {refused[0]}, outside the allowed addresses"
                )
        return Destination(host, addresses[0])


def _is_host_name(name: str) -> bool:
    """A DNS name of letters, digits, hyphens and underscores (compose names may have them),
    whose last label is not all digits (that would be a malformed address)."""
    labels = name.rstrip(".").split(".")
    return (
        0 < len(name) <= 253
        and not labels[-1].isdigit()
        and all(0 < len(label) <= 63 for label in labels)
        and all(
            char.isascii() and (char.isalnum() or char in "-_")
            for label in labels
            for char in label
        )
    )
