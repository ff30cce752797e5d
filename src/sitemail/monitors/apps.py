"""Django app registration for code monitors."""

from django.apps import AppConfig


class MonitorsConfig(AppConfig):
    name = "sitemail.monitors"
    label = "monitors"

    def ready(self) -> None:
        from sitemail.mail import kinds
        from sitemail.monitors.actions import SAMPLE_RESULT

        # The sample context renders the template set in the mail tests and previews.
        kinds.register(
            kinds.Kind(
                "code_monitor",
                notification=True,
                example={
                    "description": "TODOs",
                    "priority": "CRITICAL",
                    "is_test": False,
                    "count": 6,
                    "header": "Heads up",
                    "query": "type:diff TODO",
                    "search_url": "https://sourcegraph.example.com/search?q=type%3Adiff%20TODO",
                    "monitor_url": "https://sourcegraph.example.com/code-monitoring/1",
                    "include_results": True,
                    "results": [SAMPLE_RESULT],
                    "more": 5,
                },
            )
        )
