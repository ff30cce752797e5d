"""Code monitors: repositories, the query language, trigger runs over new commits, actions."""
