"""lockernet central: the assigner beside the broker."""
