"""Entering network namespaces from one thread of this process, and asking a socket where it lives.

Python 3.11 has no ``os.setns``, so libc's is called through ctypes. ``setns`` moves only the
calling thread; the way back is the thread's own namespace saved from ``/proc/thread-self`` (not
``/proc/self``, which names the main thread's). Sockets keep the namespace they were created in,
and ``/proc/sys`` files resolve the namespace of the thread that opens them, so sysctls and sockets
of a namespace can be handled without forking ``ip netns exec``.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import os
import socket
import struct
from typing import Iterator

NETNS_RUN_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
SIOCGSKNS = 0x894C        # the namespace of a socket, as a new file descriptor
SIOCGIFFLAGS = 0x8913
IFF_UP, IFF_RUNNING = 0x1, 0x40

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class NetnsError(OSError):
    """A namespace could not be entered or inspected."""


def ns_path(name: str) -> str:
    return os.path.join(NETNS_RUN_DIR, name)


def inode_of_path(path: str) -> int:
    return os.stat(path).st_ino


# The namespace this process started in (taken at import, from the main thread): the host's network
# as far as we can tell, which probes must never touch.
_START_INODE = inode_of_path("/proc/self/ns/net")


def root_netns_inodes() -> set[int]:
    """Namespaces that are never a lab: the one this process started in, and PID 1's when readable."""
    found = {_START_INODE}
    try:
        found.add(inode_of_path("/proc/1/ns/net"))
    except OSError:
        pass
    return found


def thread_netns_inode() -> int:
    return inode_of_path("/proc/thread-self/ns/net")


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise NetnsError(err, f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def inside(name: str) -> Iterator[None]:
    """Run the body with this thread in namespace ``name`` (from /run/netns); always come back."""
    try:
        target = os.open(ns_path(name), os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise NetnsError(e.errno or errno.ENOENT, f"network namespace {name} is not there: {e.strerror}") from None
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(target)
        try:
            yield
        finally:
            # Failing to return would leave later work of this thread inside the lab (or worse,
            # outside it while believing it is inside): there is no safe way on, so stop hard.
            if _libc.setns(home, CLONE_NEWNET) != 0:
                os.write(2, b"zonepolicy: cannot return to the original network namespace\n")
                os._exit(70)
    finally:
        os.close(target)
        os.close(home)


def write_sysctl(key: str, value: str | int) -> bool:
    """Write ``net.x.y`` in the current thread's namespace; False when the key does not exist here."""
    path = "/proc/sys/" + key.replace(".", "/")
    try:
        with open(path, "w") as fh:
            fh.write(f"{value}\n")
    except FileNotFoundError:
        return False
    return True


def read_sysctl(key: str) -> str:
    with open("/proc/sys/" + key.replace(".", "/")) as fh:
        return fh.read().strip()


def socket_netns_inode(sock: socket.socket) -> int:
    """The inode of the namespace ``sock`` belongs to (asked of the kernel, not assumed)."""
    fd = fcntl.ioctl(sock.fileno(), SIOCGSKNS)
    try:
        return os.fstat(fd).st_ino
    finally:
        os.close(fd)


def link_flags(name: str) -> int:
    """Interface flags (IFF_*) of device ``name`` in the current thread's namespace."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14x", name.encode(), 0)
        out = fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req)
    return struct.unpack("16sH14x", out)[1]


def sync_link(name: str) -> None:
    """Ask for the link state the ethtool way, which makes the kernel apply a pending carrier change
    now (link-watch otherwise batches some of them for up to a second, and a device does not pass
    traffic until it has)."""
    import ctypes

    SIOCETHTOOL, ETHTOOL_GLINK = 0x8946, 0x0000000A
    value = ctypes.create_string_buffer(struct.pack("II", ETHTOOL_GLINK, 0))
    req = struct.pack("16sP8x", name.encode(), ctypes.addressof(value))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            fcntl.ioctl(s.fileno(), SIOCETHTOOL, req)
        except OSError:
            pass


def link_names() -> list[str]:
    """The devices of the current thread's namespace (netlink is opened in this thread's namespace)."""
    return sorted(name for _, name in socket.if_nameindex())


def route_devices() -> set[str]:
    """Every device a route of the current thread's namespace points at (IPv4 and IPv6, all tables)."""
    devs: set[str] = set()
    with open("/proc/thread-self/net/route") as fh:
        next(fh, None)
        devs.update(line.split()[0] for line in fh if line.strip())
    try:
        with open("/proc/thread-self/net/ipv6_route") as fh:
            devs.update(line.split()[9] for line in fh if line.strip())
    except FileNotFoundError:
        pass
    return devs


def add_addresses(ifindex: int, addresses: list[tuple[int, bytes]]) -> None:
    """Give device ``ifindex`` of the current thread's namespace these host addresses
    ((family, address bytes); /32 and /128, IPv6 without duplicate address detection), replacing
    any that are there: one rtnetlink exchange instead of an ``ip`` process per namespace."""
    RTM_NEWADDR, IFA_ADDRESS, IFA_LOCAL, IFA_F_NODAD = 20, 1, 2, 0x02
    NLM_F_REQUEST, NLM_F_ACK, NLM_F_REPLACE, NLM_F_CREATE = 1, 4, 0x100, 0x400
    flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_REPLACE | NLM_F_CREATE
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0) as s:    # NETLINK_ROUTE
        s.settimeout(5.0)
        for start in range(0, len(addresses), 256):
            chunk = addresses[start:start + 256]
            msgs = []
            for seq, (family, raw) in enumerate(chunk, start + 1):
                af = socket.AF_INET if family == 4 else socket.AF_INET6
                attr = b"".join(struct.pack("=HH", 4 + len(raw), kind) + raw for kind in (IFA_LOCAL, IFA_ADDRESS))
                body = struct.pack("=BBBBI", af, 8 * len(raw), IFA_F_NODAD if family == 6 else 0, 0, ifindex) + attr
                msgs.append(struct.pack("=LHHLL", 16 + len(body), RTM_NEWADDR, flags, seq, 0) + body)
            s.send(b"".join(msgs))
            pending = len(chunk)
            while pending:
                data = s.recv(65536)
                off = 0
                while off + 16 <= len(data) and pending:
                    length, mtype, _, _, _ = struct.unpack_from("=LHHLL", data, off)
                    if mtype == 2:                                           # NLMSG_ERROR: 0 is the ACK
                        code = struct.unpack_from("=i", data, off + 16)[0]
                        if code != 0:
                            raise NetnsError(-code, f"adding an address: {os.strerror(-code)}")
                        pending -= 1
                    off += (length + 3) & ~3
                    if length == 0:
                        break


def flush_conntrack() -> None:
    """Empty the connection-tracking table of the current thread's namespace (ctnetlink flush).

    A fresh table per run keeps one suite's connections from admitting another's packets as
    replies (a probe whose 5-tuple is the reverse of an earlier allowed one would pass as
    ``established``).
    """
    NETLINK_NETFILTER = 12
    NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_DELETE = 1, 2
    NLM_F_REQUEST, NLM_F_ACK = 1, 4
    body = struct.pack("BBH", socket.AF_UNSPEC, 0, 0)          # nfgenmsg: every family
    msg = struct.pack("=LHHLL", 16 + len(body), (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE,
                      NLM_F_REQUEST | NLM_F_ACK, 1, 0) + body
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER) as s:
        s.settimeout(2.0)
        s.send(msg)
        reply = s.recv(4096)
    if len(reply) >= 20:
        _, mtype, _, _, _ = struct.unpack("=LHHLL", reply[:16])
        code = struct.unpack("=i", reply[16:20])[0]
        if mtype == 2 and code not in (0, -errno.ENOENT):  # NLMSG_ERROR
            raise NetnsError(-code, f"conntrack flush: {os.strerror(-code)}")
