"""City figures that protect the people in them: usage by service, channel, district and day
computed by the database, small cells suppressed (and their complements), the channel parity
report, and the daily open-data export (CSV, Parquet) with its data dictionary."""
