"""A TCP proxy the tests can switch off and on: "the broker is unreachable" without stopping the real broker."""
import socket
import threading


class Proxy:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.listener = None
        self.port = None
        self.conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._frozen = threading.Event()
        self._thawed = threading.Event()

    def start(self, port: int | None = None) -> int:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port or self.port or 0))
        self.listener.listen(50)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()
        return self.port

    def freeze(self) -> None:
        """Go silent without closing anything, as a dead host or a partition does: bytes in either direction are
        swallowed from now on, and a side that closes is not passed on. Only heartbeats can tell."""
        self._frozen.set()

    def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        self._thawed.set()
        if self.listener:
            try:
                self.listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept(); close() alone won't
            except OSError:
                pass
            self.listener.close()
            self.listener = None
        with self._lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
            self.conns.clear()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src, dst):
        try:
            while data := src.recv(65536):
                if self._frozen.is_set():
                    self._thawed.wait()  # silent until stop(), which closes both ends
                    return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            if self._frozen.is_set() and not self._thawed.is_set():
                return
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass
