"""The one error the site configuration service raises: a save refused, with every problem."""

from __future__ import annotations

from collections.abc import Iterable

from sitemail.siteconfig.problems import Problem


class SiteConfigError(Exception):
    """The configuration was not saved. `details` holds every reason as a Problem; `problems`
    the same as the lines shown to admins (each led by its path), which the API returns."""

    def __init__(self, problems: Iterable[Problem | str]) -> None:
        self.details = [p if isinstance(p, Problem) else Problem(None, p) for p in problems]
        self.problems = list(dict.fromkeys(p.text for p in self.details))
        super().__init__("\n".join(self.problems))
