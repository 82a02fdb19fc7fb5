"""Reports: the tables and charts that notebooks and the app's pages draw."""
