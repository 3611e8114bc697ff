"""Network namespaces and veth pairs for the chaos scenarios (iproute2, as root).

Two layouts, both reached by the test process from the root namespace:

- ``mesh(n)``: node i alone in its own namespace with one /32 address on its
  loopback device, a veth pair to every other node's namespace with a host
  route over it, and a veth pair to the root namespace (the client's link).
  ``cut(i, j)`` sets both ends of the i-j pair down (the kernel drops the
  routes over it), so i and j lose each other and both still reach everyone
  else; ``heal(i, j)`` sets them up and puts the routes back.
- ``shared(n)``: one namespace holding n /32 addresses on its loopback (the
  nodes reach each other there) and one veth pair to the root namespace; it
  has a hosts file of its own, /etc/netns/<NS>/hosts, which ``ip netns exec``
  bind-mounts over /etc/hosts for the processes it starts, so a node started
  with ``--peers-dns NAME:PORT`` resolves NAME from the file the test writes.

Addresses come from 198.18.0.0/15, the range RFC 2544 sets aside for network
tests, so no real host is shadowed. Every namespace, veth and hosts file is
removed by ``close()`` (a context manager's exit), also after a failure, and
once more at interpreter exit in case a process died between the two.
"""

from __future__ import annotations

import atexit
import os
import random
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Netns", "available", "mesh", "shared"]

NETNS_ETC = Path("/etc/netns")

# Guards _live, the layouts not closed yet (for the interpreter-exit sweep).
_live_lock = threading.Lock()
_live: list[Netns] = []


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Runs `ip ARGS`; a failure raises with ip's own message."""
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r


def available() -> str | None:
    """None when this process may create namespaces; otherwise why not (for a skip)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2)"
    name = f"dcprobe{os.getpid()}"
    r = ip("netns", "add", name, check=False)
    if r.returncode != 0:
        return f"cannot create a network namespace: {r.stderr.strip()}"
    ip("netns", "del", name, check=False)
    return None


@dataclass
class Netns:
    """Namespaces and links made for one scenario; close() deletes all of them."""

    tag: str  # in every name, so that two runs never share one
    prefix: str  # "198.18.X." : node i is prefix + str(i + 1)
    client_ip: str  # the root namespace's address on the client links
    namespaces: list[str] = field(default_factory=list)
    root_links: list[str] = field(default_factory=list)  # veth ends left in the root namespace
    hosts_dirs: list[Path] = field(default_factory=list)
    made_etc_netns: bool = False
    # (namespace, device, destination, source) of each pair's routes, for heal().
    pair_routes: dict[tuple[int, int], list[tuple[str, str, str, str]]] = field(
        default_factory=dict)

    def node_ip(self, i: int) -> str:
        return f"{self.prefix}{i + 1}"

    def exec_prefix(self, ns: str) -> list[str]:
        """What runs a command inside namespace ns (Node.prefix)."""
        return ["ip", "netns", "exec", ns]

    def add_namespace(self, suffix: str) -> str:
        name = f"dc{self.tag}{suffix}"
        ip("netns", "add", name)
        self.namespaces.append(name)
        ip("-n", name, "link", "set", "lo", "up")
        return name

    def link_to_root(self, ns: str, index: int, ips: list[str]) -> None:
        """A veth pair from the root namespace into ns, with host routes both ways."""
        outer, inner = f"dc{self.tag}r{index}", f"dc{self.tag}c{index}"
        ip("link", "add", outer, "type", "veth", "peer", "name", inner, "netns", ns)
        self.root_links.append(outer)
        if index == 0:  # the client's one address, on the first of its links
            ip("addr", "add", f"{self.client_ip}/32", "dev", outer)
        ip("link", "set", outer, "up")
        ip("-n", ns, "link", "set", inner, "up")
        ip("-n", ns, "route", "add", f"{self.client_ip}/32", "dev", inner, "src", ips[0])
        for addr in ips:
            ip("route", "add", f"{addr}/32", "dev", outer, "src", self.client_ip)

    def hosts_file(self, ns: str) -> Path:
        """ns's own /etc/hosts (made empty but for localhost)."""
        if not NETNS_ETC.exists():
            NETNS_ETC.mkdir()
            self.made_etc_netns = True
        d = NETNS_ETC / ns
        d.mkdir()
        self.hosts_dirs.append(d)
        path = d / "hosts"
        path.write_text("127.0.0.1 localhost\n")
        return path

    def cut(self, i: int, j: int) -> None:
        """Partitions node i from node j: both ends of their link go down."""
        for ns, dev, _, _ in self.pair_routes[(min(i, j), max(i, j))]:
            ip("-n", ns, "link", "set", dev, "down")

    def heal(self, i: int, j: int) -> None:
        """Undoes cut(i, j): links up, routes back."""
        routes = self.pair_routes[(min(i, j), max(i, j))]
        for ns, dev, _, _ in routes:
            ip("-n", ns, "link", "set", dev, "up")
        for ns, dev, dst, src in routes:
            ip("-n", ns, "route", "replace", f"{dst}/32", "dev", dev, "src", src)

    def close(self) -> None:
        """Deletes every namespace (and so the veths in it), root-side veth and hosts file."""
        for ns in self.namespaces:
            ip("netns", "del", ns, check=False)
        for dev in self.root_links:  # gone with their peers; deleted again in case not
            if ip("link", "show", dev, check=False).returncode == 0:
                ip("link", "del", dev, check=False)
        for d in self.hosts_dirs:
            shutil.rmtree(d, ignore_errors=True)
        if self.made_etc_netns:
            try:
                NETNS_ETC.rmdir()  # only when nothing else was put there meanwhile
            except OSError:
                pass
        self.namespaces, self.root_links, self.hosts_dirs = [], [], []
        with _live_lock:
            if self in _live:
                _live.remove(self)

    def leftovers(self) -> list[str]:
        """Namespaces or links of this tag that still exist (empty after close())."""
        names = ip("netns", "list", check=False).stdout.split()
        links = ip("-o", "link", "show", check=False).stdout
        return [n for n in names if n.startswith(f"dc{self.tag}")] + [
            word.rstrip(":").split("@")[0] for word in links.split()
            if word.startswith(f"dc{self.tag}")]

    def __enter__(self) -> Netns:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _new(n: int) -> Netns:
    tag = f"{os.getpid() % 1000:03d}{random.randrange(36 ** 2):02x}"[:5]
    third = random.randrange(256)
    prefix = f"198.{18 + third % 2}.{third}."
    net = Netns(tag=tag, prefix=prefix, client_ip=f"{prefix}200")
    with _live_lock:
        _live.append(net)
    return net


def mesh(n: int) -> Netns:
    """n namespaces, one per node, each linked to every other and to the root."""
    net = _new(n)
    try:
        names = [net.add_namespace(f"n{i}") for i in range(n)]
        for i, ns in enumerate(names):
            ip("-n", ns, "addr", "add", f"{net.node_ip(i)}/32", "dev", "lo")
            net.link_to_root(ns, i, [net.node_ip(i)])
        for i in range(n):
            for j in range(i + 1, n):
                a, b = f"dc{net.tag}p{i}{j}", f"dc{net.tag}p{j}{i}"
                ip("link", "add", a, "netns", names[i], "type", "veth",
                   "peer", "name", b, "netns", names[j])
                routes = [(names[i], a, net.node_ip(j), net.node_ip(i)),
                          (names[j], b, net.node_ip(i), net.node_ip(j))]
                for ns, dev, _, _ in routes:
                    ip("-n", ns, "link", "set", dev, "up")
                for ns, dev, dst, src in routes:
                    ip("-n", ns, "route", "add", f"{dst}/32", "dev", dev, "src", src)
                net.pair_routes[(i, j)] = routes
    except BaseException:
        net.close()
        raise
    return net


def shared(n: int) -> tuple[Netns, str, Path]:
    """(layout, namespace, its hosts file): n node addresses in one namespace."""
    net = _new(n)
    try:
        ns = net.add_namespace("m")
        ips = [net.node_ip(i) for i in range(n)]
        for addr in ips:
            ip("-n", ns, "addr", "add", f"{addr}/32", "dev", "lo")
        net.link_to_root(ns, 0, ips)
        hosts = net.hosts_file(ns)
    except BaseException:
        net.close()
        raise
    return net, ns, hosts


def write_hosts(path: Path, name: str, ips: list[str]) -> None:
    """Rewrites the hosts file in place (the bind mount holds its inode): name -> ips."""
    text = "127.0.0.1 localhost\n" + "".join(f"{addr} {name}\n" for addr in ips)
    with open(path, "r+") as f:  # one write after the truncation: a reader sees old, none or new
        f.truncate(0)
        f.write(text)


@atexit.register
def _sweep() -> None:
    with _live_lock:
        live = list(_live)
    for net in live:
        net.close()
