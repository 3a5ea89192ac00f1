"""SLA tracking: business calendars, business-time arithmetic, policies and the targets
of each ticket."""
