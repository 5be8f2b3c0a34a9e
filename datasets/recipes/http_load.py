#!/usr/bin/python3
"""Loopback HTTP for the recipes: a server on 127.0.0.1 and a client
GETting from it for SECONDS, PAUSE seconds between requests.

    python3 datasets/recipes/http_load.py SECONDS PAUSE
"""
import http.server, socketserver, sys, threading, time, urllib.request

seconds, pause = float(sys.argv[1]), float(sys.argv[2])


class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok\n" * 50
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


srv = socketserver.TCPServer(("127.0.0.1", 0), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
url = "http://127.0.0.1:%d/" % srv.server_address[1]
end = time.time() + seconds
while time.time() < end:
    urllib.request.urlopen(url).read()
    time.sleep(pause)
srv.shutdown()
