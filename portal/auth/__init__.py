"""Authentication: passwords, sessions, CSRF, API tokens and sign-in throttling."""
