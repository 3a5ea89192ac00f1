"""The portal's mail gateway.

Outbound: apps stage mail in the durable outbox (`outbox`) through `portal.sdk`; the
delivery worker (`delivery`) sends it to the tenant's or the portal's SMTP relay
(`outbound_relay`). Messages are built and their Message-IDs signed in `compose`.
"""
