"""The search engine, correlation analysis, plots, data loading and the `nas` CLI."""
