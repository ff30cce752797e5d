"""Users, user emails, access tokens and sign-in."""
