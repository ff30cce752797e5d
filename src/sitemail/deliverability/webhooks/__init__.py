"""Provider event webhooks: authenticated, normalised to events.Report, recorded on the row."""
