"""Stage 4, pace: the transport's limits, shared by every worker through Redis
(``delivery.throttle``): quotas per hour and day first, then rates per second and per
receiving domain."""

import time
from collections import Counter
from dataclasses import dataclass

from ..messages import Addressee
from ..throttle import Rate, Throttle
from ..transports import Transport

# A spent quota with room again within this many seconds is waited for; a longer wait
# puts the rows back in the queue with a time (``ledger.defer``).
QUOTA_SLEEP_SECONDS = 5


@dataclass
class Pace:
    """The transport's shared limits: quotas (hour, day) first, then rates."""

    throttle: Throttle
    transport: Transport

    def take(self, addressees: list[Addressee]) -> float:
        """Wait out the rates; return 0, or the seconds until a spent quota has room."""
        transport = self.transport
        while wait := self.throttle.reserve(list(transport.quotas), len(addressees)):
            if wait > QUOTA_SLEEP_SECONDS:
                return wait
            time.sleep(wait)
        self.throttle.wait(
            transport.key,
            Rate(transport.per_second, burst=transport.recipients_per_call),
            len(addressees),
        )
        if transport.per_domain_per_second > 0:
            domains = Counter(a.email.rsplit("@", 1)[-1].lower() for a in addressees)
            for domain, count in domains.items():
                self.throttle.wait(
                    f"{transport.key}:domain:{domain}",
                    Rate(transport.per_domain_per_second),
                    count,
                )
        return 0.0
