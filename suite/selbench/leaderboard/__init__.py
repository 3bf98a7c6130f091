"""The leaderboard: aggregation (pandas) and the static site (jinja2)."""
