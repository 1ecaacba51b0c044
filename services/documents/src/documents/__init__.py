"""Documents service: electronic documents from the insurer's core system, kept in S3 for 13 months."""
SERVICE = "documents"
