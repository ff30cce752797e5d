"""Site-admin console: configuration editor, SMTP form, test email, email log, previews, users."""
