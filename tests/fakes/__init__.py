"""Local stand-ins for outside services (payment gateways) that tests drive the real adapters against."""
