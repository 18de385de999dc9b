"""Change between visits: registration, repeatability (SEM, ICC, MDC95), comparison and trends."""
