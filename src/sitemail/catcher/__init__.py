"""The built-in mail catcher: a local SMTP server that keeps what it receives for a page to show."""
