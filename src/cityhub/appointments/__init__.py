"""Hospital appointments: schedules, fair booking, the fee, the waitlist, check-in, FHIR R4."""
