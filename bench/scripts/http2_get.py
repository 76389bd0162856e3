"""gturret: one GET of ``config["url"]`` per transaction through ``gturret.http``, in
the protocol ``config["http2"]`` asks for (False: HTTP/1.1; "prior-knowledge": h2c;
True: h2 by ALPN over TLS, verified against ``config["verify"]``).

One client per canon, so one connection per canon: HTTP/2 multiplexes the requests
of one canon, and a canon here runs one request at a time, as h2load -m1 does.
"""

import gturret
import gturret.http


class Transaction(gturret.Transaction):
    def __init__(self, config: dict, context: dict | None = None) -> None:
        super().__init__(config, context)
        self.http = gturret.http.Client(
            self.config["url"], http2=self.config["http2"], verify=self.config.get("verify", True)
        )

    def run(self) -> None:
        response = self.http.get("/")
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")
