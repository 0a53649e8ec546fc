"""What operators need from every service: structured logs and metrics."""
