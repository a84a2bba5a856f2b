"""What one request does, end to end, on the floor below the session (experiments reuse it)."""
