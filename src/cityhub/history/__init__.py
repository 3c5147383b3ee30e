"""One history of a resident's affairs: what they did with the city through every channel
where they are proven-linked (payments, bookings, queries, applications, requests, notices,
consents), read through each domain's service, and the export of their own data."""
