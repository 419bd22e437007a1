"""What every domain shares: database base, errors, security, pagination, logging, money."""
