"""The comparison runner's results as docs/performance.md's generated block, and its charts.

rows: the main table (medians, ratios to cachebox); targets: the bounds the
report judges, as a table of data; figures: what each target reads from a
run, and the arithmetic of paired rounds; columns: the tables' column names;
captions: the sentences around the tables, as templates; tables: markdown
tables and number formats; markdown: the whole report and the writing of
its block into the page; charts: docs/performance.png and docs/hitratio.png.
"""
