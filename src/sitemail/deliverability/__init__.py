"""After "250 OK": delivery events (webhooks, DSNs), suppression, one-click unsubscribe, and
sender authentication (DKIM signing, SPF/DKIM/DMARC/MX checks)."""
