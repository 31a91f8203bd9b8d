"""A counting HTTP/1.1 forwarder between a tool and the store (Azurite, SeaweedFS), for the
bench's W6 and its S3 workloads.

It forwards every request of every connection, as it comes, to one upstream address, and
counts the requests and the bytes of their answers' bodies (what the store sent: a listing's
XML, a blob's bytes), so that a tool's store work is told apart from what its own client
asked of it (the bench's request to the viewer is not a store request). Bodies are forwarded
as they come, a buffer at a time, never held whole: a 1 GiB GET passes through in 1 MiB reads,
and in plain HTTP without being copied into this process at all (splice(2) through a pipe),
so that the proxy costs the machine little CPU beside the tool and the store it sits between.

Requests are framed by Content-Length or chunked transfer encoding (in both directions), and
a response without either runs to the end of the connection; HEAD answers and 1xx, 204 and
304 have no body. Keep-alive is kept: one upstream connection per client connection, made anew when the
upstream has closed it. A request with `Expect: 100-continue` (the AWS SDKs' and curl's large
uploads) has its body forwarded once the upstream has answered 100 Continue, which is passed on;
a final answer instead is passed on and ends the connection. Each exchange keeps the request's
headers (names in lower case), for what the bench tells of each tool's checksums.
"""

import fcntl
import os
import select
import socket
import ssl
import threading
from dataclasses import dataclass, field

BUFFER = 1024 * 1024
MAX_HEAD = 64 * 1024


@dataclass
class Exchange:
    """One request forwarded: its method, target, Range header (if any), status and answer's
    body size, and the request's headers."""
    method: str
    target: str
    range: str | None
    status: int
    body_bytes: int
    headers: dict = field(default_factory=dict)


@dataclass
class Counts:
    requests: int = 0
    body_bytes: int = 0
    exchanges: list = field(default_factory=list)


class _Closed(Exception):
    """The peer closed its connection between messages."""


class _Reader:
    """A socket read through a buffer of its own: head lines, then bodies a buffer at a time."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = bytearray()
        self.pipe = None  # for splice(2), made on first use

    def close(self):
        if self.pipe:
            for fd in self.pipe:
                os.close(fd)
            self.pipe = None

    def splice(self, n: int, out: socket.socket, tally):
        """Forwards n bytes from this socket to out in the kernel, through a pipe."""
        if self.pipe is None:
            self.pipe = os.pipe()
            try:
                fcntl.fcntl(self.pipe[1], fcntl.F_SETPIPE_SZ, BUFFER)
            except OSError:
                pass  # the default size (64 KiB) works too
        read_end, write_end = self.pipe
        while n:
            got = os.splice(self.sock.fileno(), write_end, min(n, BUFFER))
            if not got:
                raise ValueError("connection closed within a body")
            moved = 0
            while moved < got:
                moved += os.splice(read_end, out.fileno(), got - moved)
            n -= got
            if tally:
                tally(got)

    def fill(self) -> bool:
        try:
            data = self.sock.recv(BUFFER)
        except ConnectionResetError:
            if self.buf:
                raise
            data = b""  # a peer that resets an idle connection has closed it
        if not data:
            return False
        self.buf += data
        return True

    def head(self) -> bytes:
        """A message head up to and including its blank line; _Closed if the peer closed first."""
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                head = bytes(self.buf[:end + 4])
                del self.buf[:end + 4]
                return head
            if len(self.buf) > MAX_HEAD:
                raise ValueError("message head too large")
            if not self.fill():
                if self.buf:
                    raise ValueError("connection closed within a message head")
                raise _Closed()

    def line(self) -> bytes:
        while (end := self.buf.find(b"\r\n")) < 0:
            if not self.fill():
                raise ValueError("connection closed within a chunk line")
        line = bytes(self.buf[:end + 2])
        del self.buf[:end + 2]
        return line

    def copy(self, n: int, out: socket.socket, tally=None):
        """Forwards exactly n bytes to out, telling tally(k) of each k forwarded."""
        left = n
        if self.buf:
            take = min(left, len(self.buf))
            out.sendall(self.buf[:take])
            del self.buf[:take]
            left -= take
            if tally:
                tally(take)
        if left > BUFFER and _spliceable(self.sock) and _spliceable(out):
            self.splice(left, out, tally)
            return
        while left:
            data = self.sock.recv(min(left, BUFFER))
            if not data:
                raise ValueError("connection closed within a body")
            out.sendall(data)
            left -= len(data)
            if tally:
                tally(len(data))

    def copy_to_end(self, out: socket.socket, tally):
        if self.buf:
            out.sendall(self.buf)
            tally(len(self.buf))
            self.buf.clear()
        while data := self.sock.recv(BUFFER):
            out.sendall(data)
            tally(len(data))


def _spliceable(sock: socket.socket) -> bool:
    """A plain socket (not TLS) that blocks: splice(2) can move its bytes."""
    return hasattr(os, "splice") and not isinstance(sock, ssl.SSLSocket) and sock.gettimeout() is None


def _headers(head: bytes) -> tuple[str, dict]:
    lines = head.decode("latin-1").split("\r\n")
    fields = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            fields[name.strip().lower()] = value.strip()
    return lines[0], fields


def _copy_body(reader: _Reader, fields: dict, out: socket.socket, to_end: bool, tally=None):
    """Forwards a message body framed as its head says, telling tally the body's bytes as they
    pass (a chunked body's data, not its framing)."""
    if "chunked" in fields.get("transfer-encoding", "").lower():
        while True:
            line = reader.line()
            out.sendall(line)
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while (trailer := reader.line()) != b"\r\n":
                    out.sendall(trailer)
                out.sendall(b"\r\n")
                return
            reader.copy(size, out, tally)
            reader.copy(2, out)  # the CRLF after the chunk
    elif "content-length" in fields:
        reader.copy(int(fields["content-length"]), out, tally)
    elif to_end:
        reader.copy_to_end(out, tally)


class CountingProxy:
    """Listens on 127.0.0.1 (a free port) and forwards to upstream (host, port), counting.

    With `tls` (the server's certificate and key files, and the authority that signed the
    upstream's), it serves HTTPS with that certificate and speaks HTTPS to the upstream: it
    sees the requests in the clear, and the tools trust it as they trust the upstream."""

    def __init__(self, upstream: tuple[str, int], tls: tuple[str, str, str] | None = None):
        self.upstream = upstream
        self.server_tls = self.upstream_tls = None
        if tls:
            cert, key, authority = tls
            self.server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.server_tls.load_cert_chain(cert, key)
            self.upstream_tls = ssl.create_default_context(cafile=authority)
        self.lock = threading.Lock()
        self.counts = Counts()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.errors = []
        threading.Thread(target=self.accept, daemon=True).start()

    def snapshot(self) -> tuple[int, int, int]:
        """(requests, answer body bytes, exchanges so far): give it to since()."""
        with self.lock:
            return self.counts.requests, self.counts.body_bytes, len(self.counts.exchanges)

    def since(self, mark) -> tuple[int, int, list]:
        """The requests, body bytes and exchanges since snapshot() gave mark."""
        with self.lock:
            return (self.counts.requests - mark[0], self.counts.body_bytes - mark[1],
                    list(self.counts.exchanges[mark[2]:]))

    def close(self):
        self.listener.close()

    def accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(client,), daemon=True).start()

    def serve(self, client: socket.socket):
        upstream = from_client = from_upstream = None
        try:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.server_tls:
                client = self.server_tls.wrap_socket(client, server_side=True)
            from_client = _Reader(client)
            while True:
                try:
                    head = from_client.head()
                except _Closed:
                    return
                request_line, fields = _headers(head)
                method, target = request_line.split(" ", 2)[:2]
                if upstream is not None and select.select([upstream], [], [], 0)[0]:
                    # An idle connection with something to read: the upstream closed it (its
                    # keep-alive timeout, a restart). A new one for this request.
                    upstream.close()
                    from_upstream.close()
                    upstream = None
                if upstream is None:
                    upstream = socket.create_connection(self.upstream)
                    upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    if self.upstream_tls:
                        upstream = self.upstream_tls.wrap_socket(upstream, server_hostname=self.upstream[0])
                    from_upstream = _Reader(upstream)
                upstream.sendall(head)
                refused = False  # a final answer to `Expect: 100-continue`: no body was sent
                if fields.get("expect", "").lower() == "100-continue":
                    response = from_upstream.head()
                    status_line, answer = _headers(response)
                    status = int(status_line.split(" ", 2)[1])
                    client.sendall(response)
                    refused = status >= 200
                if not refused:
                    _copy_body(from_client, fields, upstream, to_end=False)
                while not refused:
                    response = from_upstream.head()
                    status_line, answer = _headers(response)
                    status = int(status_line.split(" ", 2)[1])
                    client.sendall(response)
                    if status >= 200 or status == 101:
                        break  # 1xx (100 Continue) is followed by the final answer
                exchange = Exchange(method, target, fields.get("x-ms-range") or fields.get("range"), status, 0,
                                    fields)
                with self.lock:
                    self.counts.requests += 1
                    self.counts.exchanges.append(exchange)

                def tally(n, exchange=exchange):
                    with self.lock:
                        exchange.body_bytes += n
                        self.counts.body_bytes += n

                bodiless = method == "HEAD" or status in (204, 304) or status < 200
                if not bodiless:
                    # An answer the client stops reading (it closed) is counted as far as it went.
                    _copy_body(from_upstream, answer, client, to_end=True, tally=tally)
                closing = (refused or answer.get("connection", "").lower() == "close"
                           or fields.get("connection", "").lower() == "close"
                           or (not bodiless and "content-length" not in answer
                               and "chunked" not in answer.get("transfer-encoding", "").lower()))
                if closing:
                    return
        except (OSError, ValueError) as e:
            with self.lock:
                self.errors.append(repr(e))
        finally:
            client.close()
            if upstream is not None:
                upstream.close()
            for reader in (from_client, from_upstream):
                if reader is not None:
                    reader.close()
