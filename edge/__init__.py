"""lockernet edge: the site agent on each locker bank or collection point."""
