"""report.json, its renderings (Markdown, HTML, terminal tables) and figures."""
