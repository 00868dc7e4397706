"""The agent's pull loops: standing pull requests answered by callback. I/O: NATS.

The protocol (one long request at a time, renewed on 408, on a reconnect, on
errors and when a request outlives its expiry) is :class:`bus.pull.PullLoop`;
here each reply arrives as a nats-py ``Msg`` on the loop's own subscription
and goes to the agent whole (``deliver``): the agent reads its headers.
"""

from __future__ import annotations

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from bus.pull import STATUS, Binder, PullLoop

__all__ = ["Binder", "Puller"]


class Puller(PullLoop[Msg]):
    """The pull loop of one agent on one consumer: ``deliver`` gets each job's ``Msg``."""

    logger = "corral.agent"

    async def _on_message(self, msg: Msg) -> None:
        status = msg.headers.get(STATUS) if msg.headers and not msg.data else None
        if status is None:
            self.delivered()
            self.deliver(msg)
        else:
            description = msg.headers.get("Description", "") if msg.headers else ""
            self.answered(status, description)

    async def _subscribe(self) -> Subscription:
        return await self.nc.subscribe(self.nc.new_inbox(), cb=self._on_message)
