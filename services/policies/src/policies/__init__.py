"""Policies service: stores policy + policyholder master data published by the insurer's core system."""
SERVICE = "policies"
