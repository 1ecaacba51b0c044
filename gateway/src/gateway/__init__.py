"""The portal's public entry: HTML pages composed from the internal services (``gateway.app:create_app``)."""
SERVICE = "gateway"
