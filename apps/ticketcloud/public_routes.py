"""Routes of TicketCloud's public pages: the web form, rating links and the customer portal.

Paths under `/public/{workspace}/` need no sign-in; the portal's gate resolves the
workspace and returns 404 when it did not install TicketCloud. Paths under `/my` are for
signed-in customers.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from ticketcloud import public_customer, public_form, public_rating
from ticketcloud.public_pages import stylesheet

routes: list[BaseRoute] = [
    Route("/public/{workspace}/public.css", stylesheet, methods=["GET"]),
    Route("/public/{workspace}/new", public_form.new_ticket_form, methods=["GET"]),
    Route("/public/{workspace}/new", public_form.submit_ticket, methods=["POST"]),
    Route("/public/{workspace}/submitted/{token}", public_form.submitted_page, methods=["GET"]),
    Route("/public/{workspace}/rate/{token}", public_rating.rating_page, methods=["GET"]),
    Route("/public/{workspace}/rate/{token}", public_rating.submit_rating, methods=["POST"]),
    Route("/public/{workspace}/rated", public_rating.rated_page, methods=["GET"]),
    Route("/my", public_customer.my_tickets, methods=["GET"]),
    Route("/my/{number:int}", public_customer.my_ticket, methods=["GET"]),
    Route("/my/{number:int}/reply", public_customer.submit_reply, methods=["POST"]),
    Route("/my/{number:int}/rate", public_customer.my_rating_page, methods=["GET"]),
    Route("/my/{number:int}/rate", public_customer.submit_my_rating, methods=["POST"]),
    Route("/my/{number:int}/attachments/{attachment_id:int}", public_customer.my_attachment,
          methods=["GET"]),
]
