"""After "250 OK": delivery events, suppression, unsubscribe and sender authentication."""
