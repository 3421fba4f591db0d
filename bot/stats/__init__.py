"""Figures for the Integrationsmanagement: aggregates only, small cells suppressed (issue 9).

`figures` computes the tables from the database; `topics` groups intents into the topics a team
lead recognises; `suppression` decides which numbers may not be shown. Renderers (console page,
charts, PDF, `lotse stats`) only format what `figures` hands them.
"""
