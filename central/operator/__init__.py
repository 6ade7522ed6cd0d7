"""What the operator runs and reads: the `lockernet central` commands."""
