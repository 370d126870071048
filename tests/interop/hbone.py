#!/usr/bin/python3
"""An independent HBONE client and server for interoperability tests.

Written only with Python's ssl module and the h2 library (Debian
python3-h2), from RFC 9113 (HTTP/2 CONNECT) and Istio's HBONE description:
TLS 1.3 with mutual authentication, ALPN h2, one CONNECT stream per
tunnelled connection, :authority = "IP:PORT". None of Sluice's code.

  hbone.py client --certs DIR --connect IP:PORT --sni SA.NS --expect-id URI
                  --authority IP:PORT [--send TEXT] [--streams N]
      prints one JSON line: {"handshake": "ok"|"failed: ...", "peer_id",
      "streams": [{"status", "data"}]}
  hbone.py server --certs DIR --listen IP:PORT --log FILE --ready FILE
      answers every CONNECT with 200 and "interop-server\\n" then echoes;
      logs one JSON line per stream: {"peer_id", "authority"}

DIR holds cert.pem, key.pem and root.pem (the trust bundle).

h2 4.1 validates every request as if it needed :scheme and :path, which a
plain CONNECT (RFC 9113 section 8.5) must not carry: its header validation
is turned off for the request direction only, and the CONNECT is built by
hand here exactly as the RFC gives it.
"""
import argparse
import json
import os
import socket
import ssl
import sys
import threading

import h2.config
import h2.connection
import h2.events


def tls_context(certs, server):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(os.path.join(certs, "cert.pem"), os.path.join(certs, "key.pem"))
    ctx.load_verify_locations(os.path.join(certs, "root.pem"))
    ctx.check_hostname = False  # SPIFFE IDs are URIs: checked by hand below
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.set_alpn_protocols(["h2"])
    return ctx


def spiffe_id(tls):
    cert = tls.getpeercert()
    uris = [v for k, v in cert.get("subjectAltName", ()) if k == "URI"]
    return uris[0] if len(uris) == 1 else None


def pump(tls, conn):
    data = conn.data_to_send()
    if data:
        tls.sendall(data)


def client(a):
    out = {"handshake": "ok", "peer_id": None, "streams": []}
    host, port = a.connect.rsplit(":", 1)
    raw = socket.create_connection((host, int(port)), timeout=5)
    try:
        tls = tls_context(a.certs, False).wrap_socket(raw, server_hostname=a.sni)
    except (ssl.SSLError, OSError) as e:
        out["handshake"] = "failed: %s" % e
        print(json.dumps(out))
        return 0
    out["peer_id"] = spiffe_id(tls)
    if tls.selected_alpn_protocol() != "h2" or out["peer_id"] != a.expect_id:
        out["handshake"] = "refused: peer %s alpn %s" % (out["peer_id"], tls.selected_alpn_protocol())
        print(json.dumps(out))
        return 0
    conn = h2.connection.H2Connection(h2.config.H2Configuration(
        client_side=True, validate_outbound_headers=False))
    conn.initiate_connection()
    streams = {}
    for _ in range(a.streams):
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, [(b":method", b"CONNECT"), (b":authority", a.authority.encode())])
        streams[sid] = {"status": None, "data": "", "ended": False}
    try:
        exchange(tls, conn, streams, a)
    except (socket.timeout, ssl.SSLError, OSError) as e:
        out["error"] = str(e)
    out["streams"] = [{"status": s["status"], "data": s["data"]} for s in streams.values()]
    print(json.dumps(out))
    tls.close()
    return 0


def exchange(tls, conn, streams, a):
    pump(tls, conn)
    sent = set()
    while not all(s["ended"] for s in streams.values()):
        data = tls.recv(65536)
        if not data:
            break
        for ev in conn.receive_data(data):
            sid = getattr(ev, "stream_id", None)
            if isinstance(ev, h2.events.ResponseReceived):
                streams[sid]["status"] = int(dict(ev.headers)[b":status"])
                if streams[sid]["status"] == 200 and sid not in sent:
                    sent.add(sid)
                    conn.send_data(sid, a.send.encode(), end_stream=True)
            elif isinstance(ev, h2.events.DataReceived):
                streams[sid]["data"] += ev.data.decode(errors="replace")
                conn.acknowledge_received_data(ev.flow_controlled_length, sid)
            elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                streams[sid]["ended"] = True
        pump(tls, conn)


def serve_one(tls, log):
    peer = spiffe_id(tls)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(
        client_side=False, validate_inbound_headers=False))
    conn.initiate_connection()
    pump(tls, conn)
    while True:
        data = tls.recv(65536)
        if not data:
            return
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.RequestReceived):
                hdr = dict(ev.headers)
                log.write(json.dumps({"peer_id": peer, "method": hdr.get(b":method", b"").decode(),
                                      "authority": hdr.get(b":authority", b"").decode()}) + "\n")
                log.flush()
                conn.send_headers(ev.stream_id, [(b":status", b"200")])
                conn.send_data(ev.stream_id, b"interop-server\n")
            elif isinstance(ev, h2.events.DataReceived):
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                conn.send_data(ev.stream_id, ev.data)
            elif isinstance(ev, h2.events.StreamEnded):
                conn.end_stream(ev.stream_id)
        pump(tls, conn)


def server(a):
    host, port = a.listen.rsplit(":", 1)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, int(port)))
    ls.listen(16)
    ctx = tls_context(a.certs, True)
    open(a.ready, "w").close()
    log = LockedLog(a.log)
    while True:
        raw, _ = ls.accept()
        # one thread per connection: each worker of a proxy has its own
        threading.Thread(target=serve_conn, args=(ctx, raw, log), daemon=True).start()


class LockedLog:
    def __init__(self, path):
        self.f = open(path, "a")
        self.lock = threading.Lock()

    def write(self, line):
        with self.lock:
            self.f.write(line)
            self.f.flush()

    def flush(self):
        pass


def serve_conn(ctx, raw, log):
    try:
        with ctx.wrap_socket(raw, server_side=True) as tls:
            serve_one(tls, log)
    except (ssl.SSLError, OSError, h2.exceptions.ProtocolError) as e:
        log.write(json.dumps({"error": str(e)}) + "\n")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="mode", required=True)
    c = sub.add_parser("client")
    c.add_argument("--certs", required=True)
    c.add_argument("--connect", required=True)
    c.add_argument("--sni", required=True)
    c.add_argument("--expect-id", required=True)
    c.add_argument("--authority", required=True)
    c.add_argument("--send", default="ping\n")
    c.add_argument("--streams", type=int, default=1)
    s = sub.add_parser("server")
    s.add_argument("--certs", required=True)
    s.add_argument("--listen", required=True)
    s.add_argument("--log", required=True)
    s.add_argument("--ready", required=True)
    a = p.parse_args()
    return client(a) if a.mode == "client" else server(a)


if __name__ == "__main__":
    sys.exit(main())
