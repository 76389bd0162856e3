"""oct-turrets: the same do-nothing transaction, written against the OCT API."""

from oct_turrets.base import BaseTransaction


class Transaction(BaseTransaction):
    def run(self) -> None:
        pass
