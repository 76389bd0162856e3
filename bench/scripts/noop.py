"""gturret: a transaction that does nothing, so only the turret's own cost is measured."""

import gturret


class Transaction(gturret.Transaction):
    def run(self) -> None:
        pass
