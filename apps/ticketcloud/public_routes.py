"""Routes of TicketCloud's public pages: the web form, rating links and the customer portal."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
