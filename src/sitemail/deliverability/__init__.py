"""After "250 OK": sender authentication (DKIM signing, SPF/DKIM/DMARC/MX checks)."""
