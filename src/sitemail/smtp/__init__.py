"""How mail leaves: the SMTP transport, its errors, the retry policy and diagnostics."""
