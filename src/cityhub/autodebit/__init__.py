"""Auto-debit agreements: a resident lets a channel pay an account's bills up to a limit."""
