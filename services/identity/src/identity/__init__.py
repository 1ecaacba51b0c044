"""Identity service: declarations on electronic communication, portal accounts, login with lockout, sessions and
forgotten credentials."""
SERVICE = "identity"
