"""Tests of sitemail.deliverability: DKIM signing and the sender authentication checks."""
