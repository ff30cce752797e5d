"""sitemail: durable transactional email for a self-hosted code platform."""

__version__ = "0.1.0"
