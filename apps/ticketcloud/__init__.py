"""TicketCloud: the help desk app. It uses only `portal.sdk`."""
