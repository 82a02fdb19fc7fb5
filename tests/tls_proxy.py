"""A TLS front for a PostgreSQL server that has none (pgserver's build lacks SSL): it listens on
127.0.0.1, speaks PostgreSQL's own TLS negotiation (an SSLRequest answered "S", then a real TLS
handshake with the given certificate) and relays the decrypted stream to the server's Unix
socket. A client that does not ask for TLS is refused, as ``hostnossl … reject`` would.

It lets the tests check what the workbench owns: that a ``sslmode=verify-full`` URL reaches the
database over TLS and that libpq's verification refuses a server it cannot trust."""

from __future__ import annotations

import socket
import ssl
import struct
import threading
from pathlib import Path

_SSL_REQUEST = 80877103
_GSS_REQUEST = 80877104


class TlsProxy:
    def __init__(self, unix_socket: Path, cert: Path, key: Path):
        self.unix_socket = str(unix_socket)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sessions: list[str] = []  # the TLS version of each session set up
        self.relayed = 0  # bytes the clients sent through TLS to the server
        self.refused_plain = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            code = self._request(client)
            if code == _GSS_REQUEST:  # no GSS encryption here: the client then asks for TLS
                client.sendall(b"N")
                code = self._request(client)
            if code != _SSL_REQUEST:
                self.refused_plain += 1
                return
            client.sendall(b"S")
            try:
                secure = self.context.wrap_socket(client, server_side=True)
            except (ssl.SSLError, OSError):
                return  # the client refused our certificate: what verify-full is for
            self.sessions.append(secure.version() or "")
            with secure, socket.socket(socket.AF_UNIX) as server:
                server.connect(self.unix_socket)
                back = threading.Thread(target=_pipe, args=(server, secure), daemon=True)
                back.start()
                _pipe(secure, server, self._count)
                back.join(timeout=5)

    def _count(self, n: int) -> None:
        self.relayed += n  # counted as it goes: a test reads it while connections are open

    @staticmethod
    def _request(client: socket.socket) -> int | None:
        head = _read(client, 8)
        if head is None:
            return None
        length, code = struct.unpack("!ii", head)
        return code if length == 8 else None


def _read(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        piece = sock.recv(n - len(data))
        if not piece:
            return None
        data += piece
    return data


def _pipe(source: socket.socket, target: socket.socket, count=lambda n: None) -> None:
    """Relay until ``source`` ends."""
    try:
        while data := source.recv(65536):
            target.sendall(data)
            count(len(data))
    except OSError:
        pass
    finally:
        try:
            target.shutdown(socket.SHUT_WR)
        except OSError:
            pass
