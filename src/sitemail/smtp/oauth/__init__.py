"""OAuth 2.0 for SMTP (XOAUTH2, OAUTHBEARER): the config rules, the token grants, the token
cache shared by every worker through the database, the SASL steps and Connect account.

Kept import-light: the site configuration imports `config` from here; the database parts
(`store`, `models`) load only where tokens are fetched.
"""
