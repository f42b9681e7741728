"""Output: the report document (the only dict, at the file boundary), tables, Markdown, CSV, HTML, plots, GitHub and JUnit."""
