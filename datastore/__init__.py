"""Single-table storage for DevInsights: keys, records, the Store protocol and its backends."""
