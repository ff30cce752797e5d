"""What an email is: template sets per kind, rendering, and building the wire bytes."""

from sitemail.mail.build import MailBuildError, Prepared, build
from sitemail.mail.kinds import Kind, register
from sitemail.mail.render import Rendered, RenderError, render

__all__ = [
    "Kind",
    "MailBuildError",
    "Prepared",
    "RenderError",
    "Rendered",
    "build",
    "register",
    "render",
]
