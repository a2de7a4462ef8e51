"""The resource directory (资源目录), derived: registry declarations + Delta logs + lineage + quality.

Nothing here is typed by hand: a table added to the registry appears in the directory, its HTML page
and its DCAT entry on the next build.

Modules (import from them; this file re-exports nothing):
- directory: catalog.dataset and catalog.column rows (Delta facts, access counts, registered products).
- dcat: the DCAT-style JSON catalog the national directory could ingest.
- site: the static HTML site (index with the plan's KPIs, one page per dataset).
"""
